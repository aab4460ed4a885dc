// `npm test`: type check (.svelte included), lint, build the agent and CLI bundles, then every test tier. WebRTC tiers run
// inside a private network namespace (scripts/in-netns.mjs). Ends with one line
// "tests: N passed, N failed, N skipped" summed over all tiers.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUnshare, runInNetns } from './in-netns.mjs';

mkdirSync('test-results', { recursive: true });
// The CLI processes the tests start keep their code caches here, not in ~/.cache.
process.env.FLOTILLA_COMPILE_CACHE = mkdtempSync(join(tmpdir(), 'flotilla-test-compile-cache-'));
const totals = { passed: 0, failed: 0, skipped: 0 };
let failedSteps = [];

function step(name, command, args) {
  console.log(`\n=== ${name}: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, FORCE_COLOR: process.env.CI ? '0' : '1' } });
  if (result.status !== 0) failedSteps.push(name);
  return result.status === 0;
}

function vitestTier(name, args, netns) {
  const out = `test-results/vitest-${name.split(' ')[0]}.json`;
  const vitest = ['vitest', 'run', ...args, '--reporter=default', '--reporter=json', `--outputFile=${out}`];
  console.log(`\n=== ${name}`);
  const status = netns ? runInNetns(vitest[0], vitest.slice(1)) : spawnSync('npx', vitest, { stdio: 'inherit' }).status;
  if (status !== 0) failedSteps.push(name);
  if (existsSync(out)) {
    const report = JSON.parse(readFileSync(out, 'utf8'));
    totals.passed += report.numPassedTests ?? 0;
    totals.failed += report.numFailedTests ?? 0;
    totals.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  } else if (status !== 0) {
    totals.failed += 1;
  }
}

step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
step('typecheck web', 'npx', ['tsc', '-p', 'web/tsconfig.json', '--noEmit']);
// The .svelte components: their TypeScript and template expressions (tsc sees no .svelte file).
step('svelte-check', 'npx', ['svelte-check', '--tsconfig', 'web/tsconfig.json', '--fail-on-warnings']);
step('lint', 'npx', ['eslint', '.']);
// One format for the whole tree (.prettierrc); `npm run format` writes it.
step('format', 'npx', ['prettier', '--check', '.']);
step('build agent bundle', 'node', ['scripts/build-agent.mjs']);
// The integration and browser tiers then run the CLI as `npm start` and users do: the bundle,
// loaded with its code cache (bin/flotilla.js).
step('build CLI bundle', 'node', ['scripts/build-cli.mjs']);
step('build PWA', 'npx', ['vite', 'build', '--logLevel', 'warn']);

const netns = canUnshare();
vitestTier('unit tests', ['--project', 'unit'], netns);
if (netns) {
  vitestTier('integration tests (real processes, private netns)', ['--project', 'integration'], true);
  vitestTier('browser tests (Chromium, private netns)', ['--config', 'e2e/browser/vitest.config.ts'], true);
  vitestTier('NAT tests (network namespaces, coturn)', ['--project', 'nat'], true);
} else {
  console.log('\nSKIPPED integration and browser tests: they need a private network namespace (run as root, as CI does).');
  totals.skipped += 2;
}

rmSync(process.env.FLOTILLA_COMPILE_CACHE, { recursive: true, force: true });
console.log(`\nsteps failed: ${failedSteps.length ? failedSteps.join(', ') : 'none'}`);
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedSteps.length || totals.failed ? 1 : 0);
