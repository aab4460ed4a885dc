// Keystroke echo latency through the NAT lab (e2e/nat/topology.ts: real Linux NAT in network
// namespaces), beside the same figures without NAT in the same run: `flotilla shell` (local pty
// -> CLI -> data channel -> agent -> remote pty echo -> back) and `ssh -tt` through an open
// ControlMaster connection to an sshd beside the agent. The agent runs in site 1 behind router 1;
// "same host" is a CLI in site 1 too (its packets to the agent never leave the namespace), and
// "through NAT" is a CLI in site 2, behind router 2, with the path ICE chose (printed). ssh
// reaches the agent's sshd through router 1 by a port forward (DNAT), as an operator would have
// to open one; Flotilla needs none. The lab's links add no delay: the difference is the cost of
// the NAT path itself (routing, conntrack, the bridge), not of distance.
//
//   node scripts/build-cli.mjs && node scripts/build-agent.mjs
//   node --import tsx bench/terminal-nat.mjs [--keys 300]      (root: it makes namespaces)
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { natUnavailableReason } from '../e2e/nat/topology.ts';
import { BIN, startStack, waitOnline, ping } from '../e2e/nat/stack.ts';
import { percentile, sleep } from './lib.mjs';

const { values: opts } = parseArgs({ options: { keys: { type: 'string', default: '300' } } });
const KEYS = Math.max(20, Number(opts.keys) || 300);
const SSH_PORT = 2222;

const unavailable = natUnavailableReason();
if (unavailable) {
  console.error(`bench/terminal-nat.mjs: ${unavailable}`);
  process.exit(2);
}
const pty = createRequire(import.meta.url)('@lydell/node-pty');
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** A local terminal running `command args…` inside namespace `ns`, its recent output kept. */
function terminal(ns, command, args, env) {
  const term = pty.spawn('ip', ['netns', 'exec', ns, command, ...args], { name: 'xterm-256color', cols: 100, rows: 30, env, encoding: null });
  const t = { term, out: Buffer.alloc(0), listeners: new Set() };
  t.exited = new Promise((resolve) => term.onExit((e) => resolve(e.exitCode)));
  term.onData((d) => {
    t.out = t.out.length > 65536 ? Buffer.from(d) : Buffer.concat([t.out, d]);
    for (const l of t.listeners) l();
  });
  t.waitFor = (pattern, ms = 60_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (!pattern.test(t.out.toString('latin1'))) return;
        t.listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        t.listeners.delete(check);
        reject(new Error(`timed out waiting for ${pattern}; saw: ${JSON.stringify(t.out.toString('latin1').slice(-400))}`));
      }, ms);
      t.listeners.add(check);
      check();
    });
  return t;
}

/** Types one character at a time into a remote `cat` (cooked mode: the remote pty echoes it) and times each echo. */
async function echoLatency(t, count) {
  const samples = [];
  const alphabet = 'abcdefghijklmnopqrstuvwxyz';
  for (let i = 0; i < count + 10; i++) {
    if (i % 60 === 59) {
      t.term.write('\r'); // a short line for cat
      await sleep(20);
    }
    const ch = alphabet[i % alphabet.length];
    t.out = Buffer.alloc(0);
    const seen = new Promise((resolve) => {
      const check = () => {
        if (!t.out.includes(ch)) return;
        t.listeners.delete(check);
        resolve();
      };
      t.listeners.add(check);
    });
    const t0 = performance.now();
    t.term.write(ch);
    await seen;
    if (i >= 10) samples.push(performance.now() - t0); // the first ten warm up
    await sleep(10);
  }
  return samples;
}

const fmt = (xs) => `p50 ${percentile(xs, 50).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms (n=${xs.length})`;

/** An sshd in site 1 on SSH_PORT (root by key only) and, in router 1, the port forward ssh needs to reach it from outside. */
function startSshd(stack) {
  const bin = ['/usr/sbin/sshd', '/usr/bin/sshd'].find((p) => existsSync(p));
  if (!bin) return { skipped: 'no sshd (apt-get install openssh-server)' };
  const dir = join(stack.base, 'sshd');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o700);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'user_key')]);
  execFileSync('cp', [join(dir, 'user_key.pub'), join(dir, 'authorized_keys')]);
  mkdirSync('/run/sshd', { recursive: true });
  const config = [
    `Port ${SSH_PORT}`,
    `HostKey ${join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PrintMotd no',
    'PrintLastLog no',
  ];
  writeFileSync(join(dir, 'sshd_config'), config.join('\n') + '\n');
  const sshd = stack.topo.start(stack.topo.ns.s1, bin, ['-D', '-e', '-f', join(dir, 'sshd_config')]);
  const inR1 = (...args) => execFileSync('ip', ['netns', 'exec', stack.topo.ns.r1, 'iptables', ...args]);
  inR1(
    '-t',
    'nat',
    '-A',
    'PREROUTING',
    '-i',
    'wan',
    '-p',
    'tcp',
    '--dport',
    String(SSH_PORT),
    '-j',
    'DNAT',
    '--to-destination',
    `${stack.topo.addr.s1}:${SSH_PORT}`,
  );
  inR1('-I', 'FORWARD', '1', '-i', 'wan', '-p', 'tcp', '-d', stack.topo.addr.s1, '--dport', String(SSH_PORT), '-j', 'ACCEPT');
  return { sshd, dir };
}

/** `ssh -tt` words through a ControlMaster started in `ns` towards `host`, or the reason it cannot. */
async function sshThrough(stack, ssh, ns, host, name) {
  const base = [
    '-p',
    String(SSH_PORT),
    '-i',
    join(ssh.dir, 'user_key'),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
  ];
  const control = join(ssh.dir, `ctl-${name}`);
  for (let i = 0; i < 50; i++) {
    const master = spawnSync(
      'ip',
      ['netns', 'exec', ns, 'ssh', ...base, '-o', 'ControlMaster=yes', '-o', `ControlPath=${control}`, '-o', 'ControlPersist=600', '-f', '-N', `root@${host}`],
      { encoding: 'utf8', timeout: 20_000 },
    );
    if (master.status === 0) return ['ssh', ...base, '-o', `ControlPath=${control}`, '-tt', `root@${host}`];
    if (i === 49) return { skipped: `ssh ControlMaster to ${host} failed: ${master.stderr.trim()}` };
    await sleep(200); // sshd still starting
  }
  return { skipped: 'unreachable' };
}

const rows = [];
const stack = await startStack({ nat1: 'masquerade', nat2: 'masquerade' });
try {
  await waitOnline(stack);
  const { path } = await ping(stack);
  const env = { ...process.env, FLOTILLA_HOME: stack.admin, NO_COLOR: '1', TERM: 'xterm-256color' };
  const cli = [join(BIN, 'flotilla.js'), 'shell', 'tag:site=one', '--', 'echo REMOTE-READY; exec cat'];
  const flotilla = async (ns, label) => {
    const t = terminal(ns, process.execPath, cli, env);
    await t.waitFor(/REMOTE-READY/);
    await sleep(500);
    rows.push([`echo latency, flotilla shell, ${label}`, fmt(await echoLatency(t, KEYS))]);
    t.term.write('\r\x04'); // cat ends, and with it the session and the CLI
    await t.exited;
  };
  await flotilla(stack.topo.ns.s1, 'same host (CLI beside the agent, no NAT)');
  await flotilla(
    stack.topo.ns.s2,
    `through the NAT lab (two NATs; ${path ? `${path.relayed ? 'relayed' : 'direct'} ${path.local}->${path.remote}/${path.protocol}` : 'path unknown'})`,
  );

  const ssh = startSshd(stack);
  const sshRow = async (ns, host, name, label) => {
    const words = ssh.skipped ? ssh : await sshThrough(stack, ssh, ns, host, name);
    if (!Array.isArray(words)) {
      rows.push([`echo latency, ssh -tt (ControlMaster), ${label}`, `skipped: ${words.skipped}`]);
      return;
    }
    const t = terminal(ns, words[0], [...words.slice(1), 'echo REMOTE-READY; exec cat'], env);
    await t.waitFor(/REMOTE-READY/, 30_000);
    await sleep(500);
    rows.push([`echo latency, ssh -tt (ControlMaster), ${label}`, fmt(await echoLatency(t, KEYS))]);
    t.term.kill('SIGKILL');
  };
  await sshRow(stack.topo.ns.s1, '127.0.0.1', 'local', 'same host (loopback)');
  await sshRow(stack.topo.ns.s2, stack.topo.addr.r1Wan, 'nat', `through the NAT lab (router 1's port ${SSH_PORT} forwarded to the host)`);
} catch (error) {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
} finally {
  const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`\nTerminal echo through the NAT lab (${new Date().toISOString().slice(0, 10)}; load average ${loadBefore} before, ${loadAfter} after)`);
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  await stack.destroy();
}
