// `npm start`: Flotilla on this machine. Builds what is missing, starts the signaling server
// (which also serves the PWA and the agent bundle), enrolls a local agent into a local fleet
// whose admin device the CLI uses, prints what to run next, and stops everything on Ctrl-C.
import { createRequire } from 'node:module';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dev = join(root, '.flotilla-dev');
const port = Number(process.env.FLOTILLA_PORT ?? 9000);
const host = process.env.FLOTILLA_HOST ?? '127.0.0.1';
const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/`;
const home = join(dev, 'home');
const agentState = join(dev, 'agent');
const passphraseFile = join(dev, 'passphrase');
const env = { ...process.env, FLOTILLA_HOME: home };
const children = [];

function node(args, options = {}) {
  return spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8', ...options });
}

function start(name, args) {
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const prefix = (chunk) => chunk.toString().split('\n').filter(Boolean).map((l) => `[${name}] ${l}\n`).join('');
  const quiet = process.env.FLOTILLA_DEV_VERBOSE ? null : /"level":"(debug|info)"/;
  child.stdout.on('data', (c) => (!quiet || !quiet.test(c.toString())) && process.stdout.write(prefix(c)));
  child.stderr.on('data', (c) => (!quiet || !quiet.test(c.toString())) && process.stderr.write(prefix(c)));
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${name} exited (${signal ?? code}); stopping.`);
      stop(1);
    }
  });
  return child;
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
  if (node(['scripts/build-cli.mjs'], { stdio: 'inherit' }).status !== 0) console.log('(the CLI bundle did not build; `flotilla` runs the TypeScript through tsx)');
}
if (existsSync(join(root, 'vite.config.ts')) && !existsSync(join(root, 'dist', 'web', 'index.html'))) {
  console.log('Building the PWA…');
  if (spawnSync('npm', ['run', 'build:web'], { cwd: root, stdio: 'inherit' }).status !== 0) process.exit(1);
}

const signal = start('signal', ['bin/flotilla-signal.js', '--host', host, '--port', String(port), '--stun-port', String(port), '--data-dir', join(dev, 'signal'), '--web-root', join(root, 'dist', 'web')]);
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

let agentArgs = ['bin/flotilla-agent.js', 'run', '--state-dir', agentState, '--tag', 'env=dev', '--region', 'local'];
if (!existsSync(join(agentState, 'enrollment.json'))) {
  const token = node(['bin/flotilla.js', 'token', 'create', '--ttl', '10m', '--json']);
  if (token.status !== 0) throw new Error(token.stderr);
  agentArgs = ['bin/flotilla-agent.js', 'join', JSON.parse(token.stdout).token, '--state-dir', agentState, '--tag', 'env=dev', '--region', 'local'];
}
start('agent', agentArgs);
// Let the agent register, then accept it through its token proof and learn its facts.
await new Promise((r) => setTimeout(r, 1500));
const hosts = node(['bin/flotilla.js', 'hosts']);
console.log(`
Flotilla is running on this machine.

  Signaling server and PWA:  ${url}
  Local agent:               state in ${agentState}
  CLI device (admin):        FLOTILLA_HOME=${home}

Open ${importUrl}
Passphrase: ${passphrase}
  This backup link is for this machine only: with the passphrase it hands over the local fleet key.

${hosts.stdout.trim()}

Try, in another terminal:
  export FLOTILLA_HOME=${home}
  npx flotilla hosts
  npx flotilla run '*' -- uname -a
  npx flotilla push 'tag:env=dev' README.md /tmp/flotilla-readme.md
  npx flotilla token create        # join another host

Ctrl-C stops everything (state stays in .flotilla-dev/).`);
