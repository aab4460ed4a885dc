// `npm test`: type check, lint, build the agent bundle, then every test tier. WebRTC tiers run
// inside a private network namespace (scripts/in-netns.mjs). Ends with one line
// "tests: N passed, N failed, N skipped" summed over all tiers.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { canUnshare } from './in-netns.mjs';

mkdirSync('test-results', { recursive: true });
const totals = { passed: 0, failed: 0, skipped: 0 };
let failedSteps = [];

function step(name, command, args) {
  console.log(`\n=== ${name}: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, FORCE_COLOR: process.env.CI ? '0' : '1' } });
  if (result.status !== 0) failedSteps.push(name);
  return result.status === 0;
}

function vitestTier(name, project, netns) {
  const out = `test-results/vitest-${project}.json`;
  const vitest = ['vitest', 'run', '--project', project, '--reporter=default', '--reporter=json', `--outputFile=${out}`];
  const ok = netns ? step(name, 'unshare', ['-n', 'sh', '-c', `ip link set lo up && exec npx ${vitest.join(' ')}`]) : step(name, 'npx', vitest);
  if (existsSync(out)) {
    const report = JSON.parse(readFileSync(out, 'utf8'));
    totals.passed += report.numPassedTests ?? 0;
    totals.failed += report.numFailedTests ?? 0;
    totals.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  } else if (!ok) {
    totals.failed += 1;
  }
}

step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
step('lint', 'npx', ['eslint', '.']);
step('build agent bundle', 'node', ['scripts/build-agent.mjs']);

const netns = canUnshare();
if (!netns) console.log('\nNOTE: cannot create network namespaces (not root); WebRTC tiers run on loopback only where safe.');
vitestTier('unit tests', 'unit', netns);
if (netns) vitestTier('integration tests (real processes, private netns)', 'integration', true);
else {
  console.log('SKIPPED integration tests: they need a private network namespace (run as root, as CI does).');
  totals.skipped += 1;
}

console.log(`\nsteps failed: ${failedSteps.length ? failedSteps.join(', ') : 'none'}`);
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedSteps.length || totals.failed ? 1 : 0);
