// CLI output under volume: a signaling server, one agent and the CLI from the bundles; commands
// that print 1 MiB in 10,000 lines, 200 MB in lines, and one 16 MiB line, streamed and --json.
// For each: the CLI's exit status, what reached its stdout (bytes, lines, whether --json parses),
// its peak RSS (VmHWM, sampled every 50 ms) and the agent's. A figure script, not a test.
// Run as root in a private network namespace:
//   node scripts/in-netns.mjs node bench/cli-output.mjs [--only NAME] [--slow] [--warm]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { run, sleep, parseJson } from './lib.mjs';

const { values: opts } = parseArgs({
  options: { only: { type: 'string' }, port: { type: 'string', default: '9611' }, slow: { type: 'boolean' }, warm: { type: 'boolean' } },
});
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = (name) => join(REPO, 'bin', name);
const dir = mkdtempSync(join(tmpdir(), 'flotilla-cli-output-'));
const home = join(dir, 'home');
const env = { ...process.env, FLOTILLA_HOME: home, FLOTILLA_PERSIST: '', NO_COLOR: '1', FLOTILLA_BUNDLE: '1' };
const url = `http://127.0.0.1:${opts.port}/`;
const children = [];

const hwmMiB = (pid) => {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
};

/** Runs the CLI, counting what reaches its stdout without keeping it (unless `keep`). */
function measure(args, { keep = false } = {}) {
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN('flotilla.js'), ...args], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let lines = 0;
    const kept = [];
    let stderr = '';
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, hwmMiB(child.pid) ?? 0)), 50);
    child.stdout.on('data', (chunk) => {
      bytes += chunk.length;
      for (const b of chunk) if (b === 10) lines++;
      if (keep) kept.push(chunk);
      // --slow: a reader that takes its time (a pager, a slow pipe).
      if (opts.slow) {
        child.stdout.pause();
        setTimeout(() => child.stdout.resume(), 2);
      }
    });
    child.stderr.on('data', (c) => (stderr = (stderr + c.toString()).slice(-4000)));
    child.once('close', (code, sig) => {
      clearInterval(timer);
      res({ code, signal: sig, bytes, lines, stdout: keep ? Buffer.concat(kept).toString() : '', stderr, peakMiB: peak });
    });
  });
}

async function setup() {
  const signal = spawn(
    process.execPath,
    [BIN('flotilla-signal.js'), '--host', '127.0.0.1', '--port', opts.port, '--stun-port', opts.port, '--data-dir', join(dir, 'signal'), '--log-level', 'warn'],
    { stdio: 'ignore' },
  );
  children.push(signal);
  for (
    let i = 0;
    i < 100 &&
    !(await fetch(url).then(
      () => true,
      () => false,
    ));
    i++
  )
    await sleep(100);
  const init = await run(process.execPath, [BIN('flotilla.js'), 'init', '--signal', url], { env });
  if (init.code !== 0) throw new Error(init.stderr);
  const token = parseJson((await run(process.execPath, [BIN('flotilla.js'), 'token', 'create', '--json'], { env })).stdout).token;
  const agent = spawn(process.execPath, [join(REPO, 'dist', 'flotilla-agent.mjs'), 'join', token, '--state-dir', join(dir, 'agent'), '--log-level', 'warn'], {
    stdio: 'ignore',
  });
  children.push(agent);
  for (let i = 0; i < 300; i++) {
    const hosts = parseJson((await run(process.execPath, [BIN('flotilla.js'), 'hosts', '--json'], { env })).stdout);
    if (Array.isArray(hosts) && hosts[0]?.status === 'online') return agent;
    await sleep(300);
  }
  throw new Error('the agent did not come online');
}

const CASES = [
  {
    name: '1MiB-lines',
    cmd: 'seq -w 1 10000 | sed "s/$/ xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/"',
    expectBytes: 10000 * 105,
  },
  {
    name: '200MB-lines',
    cmd: 'yes 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789 | head -c 200000000',
    expectBytes: 200_000_000,
  },
  { name: '16MiB-line', cmd: 'head -c 16777216 /dev/zero | tr "\\0" x', expectBytes: 16 * 1024 * 1024 },
];

process.on('SIGINT', () => {
  for (const c of children) c.kill('SIGKILL');
  process.exit(130);
});
try {
  const agent = await setup();
  // --warm: through a control process (warm mode); its peak RSS is printed after each case.
  let control;
  if (opts.warm) {
    await run(process.execPath, [BIN('flotilla.js'), 'connect', '--persist', '10m'], { env });
    control = parseJson((await run(process.execPath, [BIN('flotilla.js'), 'connect', '--status', '--json'], { env })).stdout)?.pid;
    children.push({ kill: () => control && process.kill(control, 'SIGKILL') });
  }
  for (const c of CASES) {
    if (opts.only && !c.name.includes(opts.only)) continue;
    for (const json of [false, true]) {
      const args = ['run', '*', ...(json ? ['--json'] : []), '--', c.cmd];
      const r = await measure(args, { keep: json });
      let parses = '';
      if (json) {
        const parsed = parseJson(r.stdout);
        const host = parsed?.results?.[0];
        parses = parsed
          ? ` json parses, stdout ${host?.stdout?.length ?? '?'} chars, truncated ${JSON.stringify(host?.truncated ?? host?.stdoutTruncated ?? null)}`
          : ' json does NOT parse';
      }
      const tail = r.stderr.trim().split('\n').slice(-2).join(' / ');
      console.log(
        `${c.name}${json ? ' --json' : ''}: exit ${r.code ?? r.signal}, ${r.bytes} bytes / ${r.lines} lines on stdout (command printed ${c.expectBytes}),${parses} CLI peak RSS ${r.peakMiB.toFixed(0)} MiB,${control ? ` control process peak ${hwmMiB(control)?.toFixed(0)} MiB,` : ''} agent peak ${hwmMiB(agent.pid)?.toFixed(0)} MiB; stderr: ${tail.slice(0, 300)}`,
      );
    }
  }
} finally {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
