// A Flotilla fleet for benchmarks: one signaling server, one CLI home, N agent processes.
// Every agent runs in its own mount namespace where <dir>/remote is a bind mount of its own
// <dir>/hosts/h<i>: all hosts see the same path, each writes to its own directory, and the
// benchmark checks every host's files byte-exact. Needs root (run.mjs runs it in a netns).
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, sleep, parseJson } from './lib.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = (name) => join(REPO, 'bin', name);

export class FlotillaFleet {
  constructor({ dir, port }) {
    this.dir = dir;
    this.port = port;
    this.home = join(dir, 'home');
    this.remote = join(dir, 'remote');
    this.agents = []; // { pid, child, hostDir, index }
    this.signal = null;
    this.token = null;
  }

  get env() {
    return { ...process.env, FLOTILLA_HOME: this.home };
  }

  cli(args, opts = {}) {
    return run(process.execPath, [BIN('flotilla.js'), ...args], { env: this.env, cwd: this.dir, ...opts });
  }

  hostDir(i) {
    return join(this.dir, 'hosts', `h${i}`);
  }

  async start() {
    mkdirSync(this.remote, { recursive: true });
    mkdirSync(join(this.dir, 'logs'), { recursive: true });
    const out = openSync(join(this.dir, 'logs', 'signal.log'), 'a');
    this.signal = spawn(process.execPath, [BIN('flotilla-signal.js'), '--host', '127.0.0.1', '--port', String(this.port),
      '--stun-port', String(this.port), '--data-dir', join(this.dir, 'signal-data'), '--log-level', 'warn'],
    { stdio: ['ignore', out, out] });
    closeSync(out);
    const url = `http://127.0.0.1:${this.port}/`;
    for (let i = 0; i < 100; i++) {
      const up = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(() => true, () => false);
      if (up) break;
      await sleep(100);
    }
    const init = await this.cli(['init', '--signal', url]);
    if (init.code !== 0) throw new Error(`flotilla init failed: ${init.stderr}`);
    const tok = await this.cli(['token', 'create', '--ttl', '24h', '--json']);
    const parsed = parseJson(tok.stdout);
    if (tok.code !== 0 || !parsed?.token) throw new Error(`token create failed: ${tok.stderr}${tok.stdout}`);
    this.token = parsed.token;
  }

  /** Starts agents until there are `total`, in batches (2 cores: 45 at once would thrash). */
  async growTo(total, { batch = 8 } = {}) {
    while (this.agents.length < total) {
      const count = Math.min(batch, total - this.agents.length);
      for (let k = 0; k < count; k++) this.startAgent(this.agents.length);
      await this.waitOnline(this.agents.length, { timeoutMs: 120_000 });
    }
  }

  startAgent(index) {
    const hostDir = this.hostDir(index);
    mkdirSync(hostDir, { recursive: true });
    const stateDir = join(this.dir, 'agents', `a${index}`);
    mkdirSync(stateDir, { recursive: true });
    const out = openSync(join(this.dir, 'logs', `agent-${index}.log`), 'a');
    // unshare execs sh, which execs node: the pid we get is the agent's own.
    const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', hostDir, this.remote,
      process.execPath, BIN('flotilla-agent.js'), 'join', this.token, '--state-dir', stateDir,
      '--tag', 'role=bench', '--allow-root', this.remote, '--log-level', 'warn'],
    { stdio: ['ignore', out, out] });
    closeSync(out);
    this.agents.push({ pid: child.pid, child, hostDir, index });
  }

  /** Polls `hosts --json` (which also accepts pending hosts) until `n` are online. */
  async waitOnline(n, { timeoutMs = 120_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    let online = 0;
    while (Date.now() < deadline) {
      const r = await this.cli(['hosts', '--json'], { timeoutMs: 30_000 });
      const hosts = parseJson(r.stdout);
      if (Array.isArray(hosts)) {
        const pending = hosts.filter((h) => h.status === 'pending').map((h) => h.id);
        if (pending.length) await this.cli(['accept', ...pending], { timeoutMs: 30_000 });
        online = hosts.filter((h) => h.status === 'online').length;
        if (online >= n && pending.length === 0) return;
      }
      await sleep(1000);
    }
    throw new Error(`only ${online} of ${n} agents online after ${timeoutMs / 1000}s`);
  }

  async stop() {
    for (const a of this.agents) {
      try { process.kill(a.pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    if (this.signal?.pid) {
      try { process.kill(this.signal.pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    await sleep(500);
    for (const a of this.agents) {
      try { process.kill(a.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    if (this.signal?.pid) {
      try { process.kill(this.signal.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
}

export function writeHostFile(path, content) {
  writeFileSync(path, content);
}
