// Keystroke echo latency through the NAT lab (e2e/nat/topology.ts: real Linux NAT in network
// namespaces), beside the same figures without NAT in the same run: `flotilla shell` (local pty
// -> CLI -> data channel -> agent -> remote pty echo -> back) and `ssh -tt` through an open
// ControlMaster connection to an sshd beside the agent. The agent runs in site 1 behind router 1;
// "same host" is a CLI in site 1 too (its packets to the agent never leave the namespace), and
// "through NAT" is a CLI in site 2, behind router 2, with the path ICE chose (printed). ssh
// reaches the agent's sshd through router 1 by a port forward (DNAT), as an operator would have
// to open one; Flotilla needs none. The lab's links add no delay: the difference is the cost of
// the NAT path itself (routing, conntrack, the bridge), not of distance.
// The PWA's rows: Debian's Chromium in site 1 ("same host") and then in site 2 ("through NAT"),
// the CLI's fleet imported, its terminal page typed into one key at a time (xterm-echo.mjs, the
// measure of terminal-echo.mjs: until xterm has parsed the echo); the path is the host page's.
//
//   npx vite build && node scripts/build-cli.mjs && node scripts/build-agent.mjs
//   node --import tsx bench/terminal-nat.mjs [--keys 300]      (root: it makes namespaces)
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { echoLatency, ptyTerminal } from './pty-echo.mjs';
import { CHROMIUM } from '../e2e/browser/browser-harness.ts';
import { natUnavailableReason } from '../e2e/nat/topology.ts';
import { BIN, ROOT, SIGNAL_PORT, chromiumInSite, startStack, waitOnline, ping } from '../e2e/nat/stack.ts';
import { percentile, sleep } from './lib.mjs';
import { LINE, typeAndTime } from './xterm-echo.mjs';

const { values: opts } = parseArgs({ options: { keys: { type: 'string', default: '300' } } });
const KEYS = Math.max(20, Number(opts.keys) || 300);
const SSH_PORT = 2222;

const unavailable =
  natUnavailableReason() ??
  (existsSync(CHROMIUM) ? undefined : `needs Chromium at ${CHROMIUM} (apt-get install chromium)`) ??
  (existsSync(join(ROOT, 'dist/web/index.html')) ? undefined : 'needs the built PWA in dist/web (npx vite build)');
if (unavailable) {
  console.error(`bench/terminal-nat.mjs: ${unavailable}`);
  process.exit(2);
}
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** A local terminal running `command args…` inside namespace `ns`, its recent output kept. */
const terminal = (ns, command, args, env) => ptyTerminal('ip', ['netns', 'exec', ns, command, ...args], { env, waitMs: 60_000 });

const fmt = (xs) =>
  `p50 ${percentile(xs, 50).toFixed(2)} ms, p90 ${percentile(xs, 90).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms (n=${xs.length})`;
const pathText = (path) => (path ? `${path.relayed ? 'relayed' : 'direct'} ${path.local}->${path.remote}/${path.protocol}` : 'path unknown');

/** The PWA in Chromium inside `site`: the CLI's fleet imported, the agent's terminal typed into; the times and the path the host page shows. */
async function pwaEcho(stack, site, contexts) {
  const context = await chromiumInSite(stack, site, { width: 1100, height: 700 });
  contexts.push(context);
  const origin = `http://${stack.topo.addr.pub}:${SIGNAL_PORT}`;
  const page = context.pages()[0] ?? (await context.newPage());
  const passphraseFile = join(stack.base, 'passphrase');
  writeFileSync(passphraseFile, 'nat bench passphrase\n', { mode: 0o600 });
  const exported = await stack.cli(['fleet', 'export', '--passphrase-file', passphraseFile]);
  if (exported.code !== 0) throw new Error(`fleet export failed:\n${exported.output}`);
  await page.goto(`${origin}/#import=${exported.stdout.trim()}`);
  await page.getByLabel('Name this device').fill(`bench browser in ${site}`);
  await page.getByLabel('Backup passphrase', { exact: true }).fill('nat bench passphrase');
  await page.getByRole('button', { name: 'Import fleet' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: 30_000 });
  await page.goto(`${origin}/#/terminal/${stack.agentId}`);
  await page.locator('[data-testid="terminal-view"][data-status="open"]').waitFor({ timeout: 60_000 });
  // A plain prompt, and the first keys (JIT, the pty's first use) left out of the figures. The
  // login shell's first prompt is awaited first: keys typed before it can be lost or echoed twice.
  const promptLine = () =>
    page.evaluate(() => {
      const buffer = document.querySelector('[data-testid="terminal"]').xterm.buffer.active;
      const text = (buffer.getLine(buffer.baseY + buffer.cursorY)?.translateToString(true) ?? '').trimEnd();
      return { text, atEnd: buffer.cursorX === text.length + 1 };
    });
  const waitPrompt = async (pattern) => {
    const deadline = Date.now() + 30_000;
    for (let line = await promptLine(); !(line.atEnd && pattern.test(line.text)); line = await promptLine()) {
      if (Date.now() > deadline) throw new Error(`no prompt ${pattern} in site ${site}'s terminal; the cursor's line: ${JSON.stringify(line)}`);
      await sleep(100);
    }
  };
  await waitPrompt(/[#$]$/);
  await page.locator('[data-testid="terminal"] textarea').focus();
  await page.keyboard.type("PS1='$ '");
  await page.keyboard.press('Enter');
  await waitPrompt(/^\$$/);
  // A key whose echo never comes would hang page.evaluate: give each run a deadline.
  const timed = (count) => {
    let timer;
    const deadline = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${count} keys not all echoed in ${60 + count / 2} s`)), 60_000 + count * 500);
    });
    return Promise.race([page.evaluate(typeAndTime, { count, line: LINE }), deadline]).finally(() => clearTimeout(timer));
  };
  await timed(20);
  const times = await timed(KEYS);
  // The path the measure went over: the host page of the same connection, after it.
  await page.evaluate((id) => void (location.hash = `#/hosts/${id}`), stack.agentId);
  const path = await page
    .getByTestId('path')
    .textContent({ timeout: 15_000 })
    .then((t) => t.replace(/\s+/g, ' ').trim())
    .catch(() => 'path unknown');
  await context.close();
  return { times, path };
}

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
const contexts = [];
const stack = await startStack({ nat1: 'masquerade', nat2: 'masquerade' });
let cleaned;
const cleanup = () =>
  (cleaned ??= (async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await stack.destroy();
  })());
// Interrupted: the namespaces and their processes go too.
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => {
    console.error(`bench/terminal-nat.mjs: ${signal}, cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
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
  await flotilla(stack.topo.ns.s2, `through the NAT lab (two NATs; ${pathText(path)})`);

  for (const [site, label] of [
    ['s1', 'same host (Chromium in site 1 beside the agent, no NAT)'],
    ['s2', 'through the NAT lab (Chromium in site 2, two NATs)'],
  ]) {
    const pwa = await pwaEcho(stack, site, contexts);
    rows.push([`echo latency, PWA terminal, ${label}`, `${fmt(pwa.times)}; ${pwa.path}`]);
  }

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
  await cleanup();
}
