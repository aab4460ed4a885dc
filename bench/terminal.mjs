// Terminal figures: keystroke echo latency (p50, p99) through `flotilla shell` (local pty ->
// CLI -> data channel -> agent -> remote pty echo -> back), directly and through the warm
// control process (`flotilla connect`), beside `ssh -tt` through an open
// ControlMaster connection to an sshd on loopback; throughput of `cat` of 50 MB to a terminal;
// the agent's RSS idle, with 10 open sessions, and after. The agent runs from its bundle
// (dist/flotilla-agent.mjs). Run as root; it enters its own network namespace (loopback only):
//   node bench/terminal.mjs [--keys 300] [--mb 50] [--sessions 10] [--no-build] [--port 9610]
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync, chmodSync, createWriteStream, readFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { echoLatency, ptyTerminal } from './pty-echo.mjs';
import { FlotillaFleet } from './flotilla-fleet.mjs';
import { percentile, rssMiB, sleep } from './lib.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const INNER_ENV = 'FLOTILLA_TERMINAL_BENCH_INNER';
const { values: opts } = parseArgs({
  options: {
    keys: { type: 'string', default: '300' },
    mb: { type: 'string', default: '50' },
    sessions: { type: 'string', default: '10' },
    port: { type: 'string', default: '9610' },
    'no-build': { type: 'boolean', default: false },
  },
});

if (!process.env[INNER_ENV]) {
  if (process.getuid?.() !== 0) {
    console.error('bench/terminal.mjs needs root (a network namespace and mount namespaces).');
    process.exit(2);
  }
  if (!opts['no-build']) {
    for (const script of ['scripts/build-agent.mjs', 'scripts/build-cli.mjs']) {
      const b = spawnSync(process.execPath, [script], { stdio: 'inherit', cwd: REPO });
      if (b.status !== 0) process.exit(b.status ?? 1);
    }
  }
  const args = process.argv
    .slice(2)
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const inner = spawn('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec '${process.execPath}' '${fileURLToPath(import.meta.url)}' ${args}`], {
    stdio: 'inherit',
    env: { ...process.env, [INNER_ENV]: '1' },
    cwd: REPO,
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => inner.kill(signal));
  inner.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
  await new Promise(() => undefined);
}

// ---------------------------------------------------------------- inside the namespace
const work = mkdtempSync(join(tmpdir(), 'flotilla-term-bench-'));
const fleet = new FlotillaFleet({ dir: work, port: Number(opts.port) });
const KEYS = Number(opts.keys);
const MB = Number(opts.mb);
const SESSIONS = Number(opts.sessions);
const cliArgs = (args) => [join(REPO, 'bin', 'flotilla.js'), ...args];
let sshd; // { child, dir, port }
const terminals = new Set();

/** A local terminal (pty) running `file args` in the bench's directory, stopped at the end. */
function terminal(file, args, env) {
  const t = ptyTerminal(file, args, { env, cwd: work });
  terminals.add(t);
  return t;
}

/** CPU seconds (user + system) a process has used, or undefined once it is gone. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

const fmt = (xs) => `p50 ${percentile(xs, 50).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms (n=${xs.length})`;

/** An sshd on 127.0.0.1:port with a generated host key, root by key only; undefined with the reason when it cannot run. */
async function startSshd(port) {
  const bin = ['/usr/sbin/sshd', '/usr/bin/sshd'].find((p) => existsSync(p));
  if (!bin) return { skipped: 'no sshd (apt-get install openssh-server)' };
  const dir = join(work, 'sshd');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o700);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'user_key')]);
  execFileSync('cp', [join(dir, 'user_key.pub'), join(dir, 'authorized_keys')]);
  mkdirSync('/run/sshd', { recursive: true });
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
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
      'AcceptEnv none',
    ].join('\n') + '\n',
  );
  const child = spawn(bin, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  for (let i = 0; i < 50; i++) {
    if (child.exitCode !== null) return { skipped: `sshd exited: ${err.trim().split('\n').pop()}` };
    const probe = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stdio: 'ignore' });
    if (probe.status === 0 || /Server listening/.test(err)) break;
    await sleep(100);
  }
  sshd = { child, dir, port };
  const base = [
    '-p',
    String(port),
    '-i',
    join(dir, 'user_key'),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
  ];
  const control = join(dir, 'ctl');
  const master = spawnSync(
    'ssh',
    [...base, '-o', 'ControlMaster=yes', '-o', `ControlPath=${control}`, '-o', 'ControlPersist=600', '-f', '-N', `${userInfo().username}@127.0.0.1`],
    {
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
  if (master.status !== 0) return { skipped: `ssh ControlMaster failed: ${master.stderr.trim()}` };
  return { ssh: ['ssh', ...base, '-o', `ControlPath=${control}`, '-tt', `${userInfo().username}@127.0.0.1`], control, base };
}

async function cleanup() {
  for (const t of terminals) {
    try {
      t.term.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  if (sshd) {
    spawnSync('ssh', ['-o', `ControlPath=${join(sshd.dir, 'ctl')}`, '-O', 'exit', 'x'], { stdio: 'ignore' });
    sshd.child.kill('SIGTERM');
  }
  await fleet.stop();
  rmSync(work, { recursive: true, force: true });
}

process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
const rows = [];
try {
  await fleet.start();
  await fleet.growTo(1);
  await fleet.waitOnline(1);
  const agentPid = fleet.agents[0].pid;
  await sleep(3000);
  const idle = rssMiB(agentPid);
  // node-pty is loaded on the first terminal only: its native module is not mapped yet.
  const ptyLoaded = () => readFileSync(`/proc/${agentPid}/maps`, 'utf8').includes('pty.node');
  rows.push([`agent RSS, idle (node-pty ${ptyLoaded() ? 'LOADED' : 'not loaded'})`, `${idle.toFixed(1)} MiB`]);
  const env = { ...fleet.env, TERM: 'xterm-256color' };

  // Echo latency through flotilla shell: remote `cat` in cooked mode, so the remote pty echoes.
  // Typing starts once the remote cat runs (before, the local terminal is not in raw mode yet and echoes itself).
  const shellEcho = async (label) => {
    const f = terminal(process.execPath, cliArgs(['shell', '*', '--', 'echo REMOTE-READY; exec cat']), env);
    await f.waitFor(/REMOTE-READY/, 60_000);
    await sleep(500);
    rows.push([label, fmt(await echoLatency(f, KEYS))]);
    f.term.write('\r\x04'); // cat ends, and with it the session and the CLI
    await f.exited;
  };
  await shellEcho('echo latency, flotilla shell (CLI -> agent -> CLI)');
  // The same through a control process (`flotilla connect`): thin client -> control process -> agent and back.
  await fleet.connect('*', '10m');
  await shellEcho('echo latency, flotilla shell warm (client -> control process -> agent)');
  await fleet.disconnect();

  const ssh = await startSshd(Number(opts.port) + 1);
  let sshEcho;
  if (ssh.skipped) rows.push(['echo latency, ssh -tt (ControlMaster)', `skipped: ${ssh.skipped}`]);
  else {
    const s = terminal(ssh.ssh[0], [...ssh.ssh.slice(1), 'echo REMOTE-READY; exec cat'], env);
    await s.waitFor(/REMOTE-READY/, 30_000);
    await sleep(500);
    sshEcho = await echoLatency(s, KEYS);
    rows.push(['echo latency, ssh -tt (ControlMaster, loopback)', fmt(sshEcho)]);
    s.term.kill('SIGKILL');
  }

  // cat of MB megabytes to a terminal (a local pty read as fast as it comes).
  const big = join(work, 'big.txt');
  await new Promise((res, rej) => {
    const out = createWriteStream(big);
    out.on('error', rej);
    const block = ('y'.repeat(99) + '\n').repeat(10_000);
    for (let i = 0; i < MB; i++) out.write(block);
    out.end(res);
  });
  const catThrough = async (label, file, args) => {
    const agentCpu0 = cpuSeconds(agentPid);
    const t = terminal(file, args, env);
    let peak = 0;
    // The client's CPU: its last reading before it exited (sampled every 100 ms).
    let clientCpu = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB(agentPid) ?? 0);
      clientCpu = cpuSeconds(t.term.pid) ?? clientCpu;
    }, 100);
    const t0 = performance.now();
    // From the first byte of output: the transfer without the client's start and dial.
    const firstByte = new Promise((res) => t.listeners.add(() => res(performance.now())));
    const code = await t.exited;
    const t1 = performance.now();
    const s = (t1 - t0) / 1000;
    const transfer = (t1 - (await firstByte)) / 1000;
    clearInterval(sampler);
    const agentCpu = cpuSeconds(agentPid) - agentCpu0;
    // The remote pty turns each \n into \r\n: MB * 10000 lines more.
    const expected = MB * 1_000_000 + MB * 10_000;
    const flotilla = label.startsWith('flotilla');
    rows.push([
      `cat ${MB} MB to the terminal, ${label}`,
      `${s.toFixed(1)} s, ${((MB * 1_000_000) / s / 1e6).toFixed(1)} MB/s, exit ${code}, ${t.bytes >= expected ? 'all bytes' : `${t.bytes} of ${expected} bytes`}${flotilla ? `, agent RSS at most ${peak.toFixed(1)} MiB` : ''}`,
    ]);
    rows.push([
      `  first byte to end; CPU of the client${flotilla ? ' and the agent' : ''}`,
      `${transfer.toFixed(1)} s, ${((MB * 1_000_000) / transfer / 1e6).toFixed(1)} MB/s; client ${clientCpu.toFixed(2)} CPU-s${flotilla ? `, agent ${agentCpu.toFixed(2)} CPU-s` : ''}`,
    ]);
  };
  await catThrough('flotilla shell (incl. CLI start and dial)', process.execPath, cliArgs(['shell', '*', '--', `cat ${big}`]));
  await fleet.connect('*', '10m');
  await catThrough('flotilla shell warm (through the control process)', process.execPath, cliArgs(['shell', '*', '--', `cat ${big}`]));
  await fleet.disconnect();
  if (!ssh.skipped) await catThrough('ssh -tt (ControlMaster)', ssh.ssh[0], [...ssh.ssh.slice(1), `cat ${big}`]);

  // Agent RSS with SESSIONS sessions open: each opened with a login shell, then left with ~.
  for (let i = 0; i < SESSIONS; i++) {
    const t = terminal(process.execPath, cliArgs(['shell', '*']), env);
    await t.waitFor(/[#$] $/m, 60_000);
    t.term.write('\r~.');
    await t.exited;
  }
  await sleep(2000);
  rows.push([
    `agent RSS, ${SESSIONS} sessions open (login shells, detached; node-pty ${ptyLoaded() ? 'loaded' : 'NOT loaded'})`,
    `${rssMiB(agentPid).toFixed(1)} MiB`,
  ]);
  const list = await fleet.cli(['shell', '*', '--list', '--json']);
  const open = JSON.parse(list.stdout || '[]');
  rows.push(['sessions listed by the agent', String(open.length)]);
} catch (error) {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
} finally {
  console.log('\nTerminal benchmark (loopback, one agent from dist/flotilla-agent.mjs)');
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  await cleanup();
}
