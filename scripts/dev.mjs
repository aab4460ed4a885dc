// `npm start`: Flotilla on this machine. Builds what is missing, starts the signaling server
// (which also serves the PWA and the agent bundle), enrolls a local agent into a local fleet
// whose admin device the CLI uses, prints what to run next once that agent is online, keeps the
// agent running (restarted with backoff when it stops or crashes), and stops everything on Ctrl-C.
// Environment: FLOTILLA_PORT (9000), FLOTILLA_HOST (127.0.0.1), FLOTILLA_DEV_DIR (.flotilla-dev),
// FLOTILLA_DEV_VERBOSE=1 (show the agent's and server's info logs).
import { createRequire } from 'node:module';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dev = resolve(process.env.FLOTILLA_DEV_DIR ?? join(root, '.flotilla-dev'));
const port = Number(process.env.FLOTILLA_PORT ?? 9000);
const host = process.env.FLOTILLA_HOST ?? '127.0.0.1';
const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/`;
const home = join(dev, 'home');
const agentState = join(dev, 'agent');
const passphraseFile = join(dev, 'passphrase');
const env = { ...process.env, FLOTILLA_HOME: home };
const children = new Set();

function node(args, options = {}) {
  return spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8', ...options });
}

/** Starts `node args…` with its output prefixed by [name]; `onExit` is called unless stopping. */
function start(
  name,
  args,
  onExit = (code, signal) => {
    console.error(`${name} exited (${signal ?? code}); stopping.`);
    stop(1);
  },
) {
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  console.log(`[dev] ${name} started (pid ${child.pid})`);
  const prefix = (chunk) =>
    chunk
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => `[${name}] ${l}\n`)
      .join('');
  const quiet = process.env.FLOTILLA_DEV_VERBOSE ? null : /"level":"(debug|info)"/;
  child.stdout.on('data', (c) => (!quiet || !quiet.test(c.toString())) && process.stdout.write(prefix(c)));
  child.stderr.on('data', (c) => (!quiet || !quiet.test(c.toString())) && process.stderr.write(prefix(c)));
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (!stopping) onExit(code, signal);
  });
  return child;
}

/**
 * Keeps `name` running: when it exits it is started again (with `argsFor()`, read anew) after a
 * backoff of 1 s doubling to 30 s, back to 1 s once a run lasted a minute. The rest keeps serving.
 */
function supervise(name, argsFor) {
  let failures = 0;
  const launch = () => {
    const startedAt = Date.now();
    return start(name, argsFor(), (code, signal) => {
      if (Date.now() - startedAt > 60_000) failures = 0;
      const delay = Math.min(30_000, 1000 * 2 ** failures++);
      console.error(`[dev] ${name} exited (${signal ?? `code ${code}`}); restarting it in ${delay / 1000}s`);
      setTimeout(() => !stopping && launch(), delay);
    });
  };
  return launch();
}

/** Quotes a word for a POSIX shell when it needs it. */
function shellWord(word) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

let stopping = false;
function stop(code = 0) {
  stopping = true;
  for (const child of children) child.kill('SIGTERM');
  setTimeout(() => process.exit(code), 1500).unref();
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

mkdirSync(dev, { recursive: true });
if (!existsSync(join(root, 'dist', 'flotilla-agent.mjs'))) {
  console.log('Building the agent bundle…');
  if (node(['scripts/build-agent.mjs'], { stdio: 'inherit' }).status !== 0) process.exit(1);
}
// The CLI bundle starts in ~0.1 s where the TypeScript through tsx takes ~0.45 s (bench/README.md).
if (!createRequire(import.meta.url)('../bin/fresh-bundle.js').freshBundle({})) {
  console.log('Building the CLI bundle…');
  if (node(['scripts/build-cli.mjs'], { stdio: 'inherit' }).status !== 0)
    console.log('(the CLI bundle did not build; `flotilla` runs the TypeScript through tsx)');
}
if (existsSync(join(root, 'vite.config.ts')) && !existsSync(join(root, 'dist', 'web', 'index.html'))) {
  console.log('Building the PWA…');
  if (spawnSync('npm', ['run', 'build:web'], { cwd: root, stdio: 'inherit' }).status !== 0) process.exit(1);
}

const signal = start('signal', [
  'bin/flotilla-signal.js',
  '--host',
  host,
  '--port',
  String(port),
  '--stun-port',
  String(port),
  '--data-dir',
  join(dev, 'signal'),
  '--web-root',
  join(root, 'dist', 'web'),
]);
await new Promise((res, rej) => {
  const timer = setTimeout(() => rej(new Error('the signaling server did not start')), 15_000);
  signal.stdout.on('data', (c) => /listening/.test(c.toString()) && (clearTimeout(timer), res()));
});

if (!existsSync(join(home, 'device.json'))) {
  const init = node(['bin/flotilla.js', 'init', '--signal', url, '--name', 'local-cli']);
  if (init.status !== 0) throw new Error(init.stderr);
}
// A backup of the local fleet key, so the browser becomes a device of this fleet: one passphrase,
// made once and kept beside the CLI home (0600), the backup itself handed over in the URL fragment.
if (!existsSync(passphraseFile)) writeFileSync(passphraseFile, randomBytes(18).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
chmodSync(passphraseFile, 0o600);
const passphrase = readFileSync(passphraseFile, 'utf8').trim();
const backup = node(['bin/flotilla.js', 'fleet', 'export', '--passphrase-file', passphraseFile]);
if (backup.status !== 0) throw new Error(backup.stderr);
const importUrl = `${url}#import=${backup.stdout.trim()}`;

const agentFlags = ['--state-dir', agentState, '--tag', 'env=dev', '--region', 'local'];
let joinToken;
let agentId;
if (existsSync(join(agentState, 'enrollment.json'))) {
  agentId = node(['bin/flotilla-agent.js', 'id', '--state-dir', agentState]).stdout.trim();
} else {
  const token = node(['bin/flotilla.js', 'token', 'create', '--ttl', '10m', '--json']);
  if (token.status !== 0) throw new Error(token.stderr);
  joinToken = JSON.parse(token.stdout).token;
}
// Enrolled once (join), then `run`: a restart after a crash does not need the token again.
const agentArgs = () =>
  existsSync(join(agentState, 'enrollment.json'))
    ? ['bin/flotilla-agent.js', 'run', ...agentFlags]
    : ['bin/flotilla-agent.js', 'join', joinToken, ...agentFlags];
const firstAgent = supervise('agent', agentArgs);
agentId ??= await new Promise((res) => {
  let text = '';
  firstAgent.stdout.on('data', (c) => {
    text += c.toString();
    const match = /Enrolled as ([a-z2-7]{52})/.exec(text);
    if (match) res(match[1]);
  });
  firstAgent.on('exit', () => res(undefined));
});

/** `node args…` without blocking the event loop (the children's output keeps flowing). */
function nodeAsync(args) {
  return new Promise((res) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c) => (stdout += c.toString()));
    child.stderr.resume();
    child.on('exit', (status) => res({ status, stdout }));
  });
}

/**
 * Waits until the local agent is online and accepted (`hosts` accepts it through its token proof
 * and learns its facts); false after a minute.
 */
async function agentOnline() {
  const deadline = Date.now() + 60_000;
  while (agentId && !stopping && Date.now() < deadline) {
    const listing = await nodeAsync(['bin/flotilla.js', 'hosts', '--json']);
    try {
      if (JSON.parse(listing.stdout).some((h) => h.id === agentId && h.status === 'online')) return true;
    } catch {
      // not JSON (an error line): ask again
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

/**
 * `flotilla` on PATH for this machine's fleet: the project's own bin run by this Node, not `npx
 * flotilla`, which costs 1.3–2 s more per call finding the package.
 */
function writeCliShim() {
  const binDir = join(dev, 'bin');
  mkdirSync(binDir, { recursive: true });
  const shim = join(binDir, 'flotilla');
  writeFileSync(shim, `#!/bin/sh\nexec ${shellWord(process.execPath)} ${shellWord(join(root, 'bin', 'flotilla.js'))} "$@"\n`, { mode: 0o755 });
  chmodSync(shim, 0o755);
  return binDir;
}

const online = await agentOnline();
if (!stopping) {
  const binDir = writeCliShim();
  const hosts = await nodeAsync(['bin/flotilla.js', 'hosts']);
  console.log(`
Flotilla is running on this machine.

  Signaling server and PWA:  ${url}
  Local agent:               state in ${agentState}
  CLI device (admin):        FLOTILLA_HOME=${home}

Open ${importUrl}
Passphrase: ${passphrase}
  This backup link is for this machine only: with the passphrase it hands over the local fleet key.

${hosts.stdout.trim()}
${online ? '' : '\nThe local agent is not online yet (see its log above); `flotilla hosts` shows when it is.\n'}
Try, in another terminal:
  export FLOTILLA_HOME=${shellWord(home)} PATH=${shellWord(binDir)}:$PATH
  flotilla hosts
  flotilla run '*' -- uname -a
  flotilla push 'tag:env=dev' README.md /tmp/flotilla-readme.md
  flotilla token create        # join another host

The local agent is restarted when it stops. Ctrl-C stops everything (state stays in ${dev}/).`);
}
