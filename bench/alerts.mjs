// Alert latency: from a threshold crossing on a host to the webhook arriving. A real signaling
// server, the CLI, and one agent from the bundle (dist/flotilla-agent.mjs) sampling every
// --interval seconds watch `fs:<mount>:used_pct > 50` (for 0) on a small ext4 image this script
// loop-mounts; each round writes 5 MiB into it (fsync'd: the crossing) and waits for the firing
// webhook on a local receiver, then deletes the file and waits for the resolved one. Printed:
// p50 / p99 / max of crossing → webhook (which includes waiting for the next sample, uniform in
// 0..interval) and of sample → webhook (the sample's time is the webhook body's `at`: evaluation,
// delivery). Needs root (mount); run in a namespace with only loopback:
//   unshare -n sh -c 'ip link set lo up; node bench/alerts.mjs --rounds 20 --interval 1'
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, openSync, writeSync, fsyncSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { log, percentile, run, sleep } from './lib.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: { rounds: { type: 'string', default: '20' }, interval: { type: 'string', default: '1' }, port: { type: 'string', default: '9530' } },
});
const rounds = Math.max(3, Math.min(500, Number(opts.rounds)));
const interval = Math.max(1, Math.min(60, Number(opts.interval)));
const port = Number(opts.port);

const dir = mkdtempSync(join(tmpdir(), 'flotilla-alerts-bench-'));
const mount = join(dir, 'fill');
const home = join(dir, 'home');
const env = { ...process.env, FLOTILLA_HOME: home, NO_COLOR: '1', FLOTILLA_PERSIST: '' };
const children = [];
let mounted = false;

function spawnLogged(args, label) {
  const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (c) => (text += c));
  child.stderr.on('data', (c) => (text += c));
  children.push(child);
  return {
    child,
    output: () => text,
    async waitFor(re, ms = 60_000) {
      const end = Date.now() + ms;
      while (!re.test(text)) {
        if (Date.now() > end) throw new Error(`${label}: no ${re} in ${ms} ms:\n${text.slice(-2000)}`);
        await sleep(50);
      }
    },
  };
}

async function cli(args) {
  const r = await run(process.execPath, [join(REPO, 'bin', 'flotilla.js'), ...args], { env, cwd: dir });
  if (r.code !== 0) throw new Error(`flotilla ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

const arrivals = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    arrivals.push({ t: Date.now(), body: JSON.parse(body) });
    res.end('{}');
  });
});

async function waitArrival(event, after) {
  const end = Date.now() + 30_000 + interval * 2000;
  for (;;) {
    const found = arrivals.find((a) => a.body.event === event && a.t >= after);
    if (found) return found;
    if (Date.now() > end) throw new Error(`no ${event} webhook`);
    await sleep(5);
  }
}

function fill() {
  const fd = openSync(join(mount, 'blob'), 'w');
  writeSync(fd, Buffer.alloc(5 * 1024 * 1024, 7));
  fsyncSync(fd);
  closeSync(fd);
}

try {
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${receiver.address().port}/hook`;
  mkdirSync(mount);
  execFileSync('truncate', ['-s', '8M', join(dir, 'fill.img')]);
  execFileSync('mkfs.ext4', ['-q', '-F', join(dir, 'fill.img')]);
  execFileSync('mount', ['-o', 'loop', join(dir, 'fill.img'), mount]);
  mounted = true;

  const signal = spawnLogged(
    [join(REPO, 'bin', 'flotilla-signal.js'), '--host', '127.0.0.1', '--port', String(port), '--stun-port', String(port), '--data-dir', join(dir, 'signal')],
    'signal',
  );
  await signal.waitFor(/listening/i);
  await cli(['init', '--signal', `http://127.0.0.1:${port}/`, '--name', 'bench']);
  const { token } = JSON.parse(await cli(['token', 'create', '--json']));
  const state = join(dir, 'agent');
  mkdirSync(state);
  writeFileSync(join(state, 'config.json'), JSON.stringify({ metrics: { intervalSeconds: interval } }));
  const agent = spawnLogged([join(REPO, 'dist', 'flotilla-agent.mjs'), 'join', token, '--state-dir', state], 'agent');
  await agent.waitFor(/"event":"signaling-open"/);
  await cli(['hosts', '--json']);
  const rules = join(dir, 'rules.yaml');
  writeFileSync(rules, `kind: channel\nname: hook\nwebhook: '${hook}'\n---\nname: disk\nmetric: 'fs:${mount}:used_pct'\nwhen: '> 50'\nchannels: [hook]\n`);
  await cli(['alerts', 'save', rules]);
  await agent.waitFor(/"event":"alerts-loaded","rules":1/);

  const firing = { crossing: [], sample: [] };
  const resolved = { crossing: [], sample: [] };
  for (let i = 0; i < rounds; i++) {
    await sleep(Math.random() * interval * 1000); // not in step with the sampler
    let t0 = Date.now();
    fill();
    let a = await waitArrival('firing', t0);
    firing.crossing.push(a.t - t0);
    firing.sample.push(a.t - a.body.at);
    await sleep(Math.random() * interval * 1000);
    t0 = Date.now();
    rmSync(join(mount, 'blob'));
    a = await waitArrival('resolved', t0);
    resolved.crossing.push(a.t - t0);
    resolved.sample.push(a.t - a.body.at);
    log(`round ${i + 1}/${rounds}: firing ${firing.crossing.at(-1)} ms, resolved ${resolved.crossing.at(-1)} ms`);
  }
  const row = (label, xs) =>
    `${label.padEnd(34)} p50 ${String(percentile(xs, 50)).padStart(5)} ms   p99 ${String(percentile(xs, 99)).padStart(5)} ms   max ${String(Math.max(...xs)).padStart(5)} ms`;
  console.log(`Alert latency, ${rounds} rounds, sampling every ${interval} s, webhook on 127.0.0.1 (${new Date().toISOString()})`);
  console.log(row('crossing -> firing webhook', firing.crossing));
  console.log(row('sample -> firing webhook', firing.sample));
  console.log(row('crossing -> resolved webhook', resolved.crossing));
  console.log(row('sample -> resolved webhook', resolved.sample));
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await sleep(1500);
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  receiver.close();
  if (mounted) spawnSync('umount', [mount], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}
