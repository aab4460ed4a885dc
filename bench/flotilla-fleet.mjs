// A Flotilla fleet for benchmarks: one signaling server, one CLI home, N agent processes started
// from the one-file agent bundle (dist/flotilla-agent.mjs, as installed on a real host), the
// CLI's control process for warm mode, and the fleet simulator (many agents in one process).
// Agents are enrolled and started as a host does it: from the systemd unit install-service writes.
// Every agent runs in its own mount namespace where <dir>/remote is a bind mount of its own
// <dir>/hosts/h<i>: all hosts see the same path, each writes to its own directory, and the
// benchmark checks every host's files byte-exact. Needs root (run.mjs runs it in a netns).
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { mkdirSync, openSync, closeSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, sleep, parseJson } from './lib.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = (name) => join(REPO, 'bin', name);
const AGENT_BUNDLE = join(REPO, 'dist', 'flotilla-agent.mjs');

export class FlotillaFleet {
  constructor({ dir, port }) {
    this.dir = dir;
    this.port = port;
    this.home = join(dir, 'home');
    this.remote = join(dir, 'remote');
    this.agents = []; // { pid, child, hostDir, index }
    this.signal = null;
    this.token = null;
    this.sim = null; // { child, count }
    this.controlPids = new Set();
  }

  get env() {
    // FLOTILLA_BUNDLE=1: the CLI bundle the bench just built, even if a source changes meanwhile.
    return {
      ...process.env,
      FLOTILLA_HOME: this.home,
      FLOTILLA_PERSIST: '',
      NO_COLOR: '1',
      FLOTILLA_BUNDLE: '1',
      FLOTILLA_COMPILE_CACHE: join(this.dir, 'compile-cache'),
    };
  }

  get url() {
    return `http://127.0.0.1:${this.port}/`;
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
    this.signal = spawn(
      process.execPath,
      [
        BIN('flotilla-signal.js'),
        '--host',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--stun-port',
        String(this.port),
        '--data-dir',
        join(this.dir, 'signal-data'),
        '--log-level',
        'warn',
        // Every simulated agent connects from 127.0.0.1: above the default 256 per address.
        '--max-connections-per-ip',
        '4096',
      ],
      { stdio: ['ignore', out, out] },
    );
    closeSync(out);
    const url = `http://127.0.0.1:${this.port}/`;
    for (let i = 0; i < 100; i++) {
      const up = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
        () => true,
        () => false,
      );
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
      const first = this.agents.length;
      const count = Math.min(batch, total - first);
      const started = await Promise.all(Array.from({ length: count }, (_, k) => this.startAgent(first + k)));
      this.agents.push(...started);
      await this.waitOnline(this.agents.length, { timeoutMs: 120_000 });
    }
  }

  /**
   * Starts agent `index` the way a host does (docs/operations.md): `join --no-start`, then
   * `install-service` writes the systemd unit, and the agent runs as that unit's ExecStart with
   * its Environment (and PATH, as systemd gives), so the bench measures the node flags hosts get.
   * FLOTILLA_LOG_LEVEL=warn is what an operator would add to the unit to keep logs short.
   */
  async startAgent(index) {
    if (!existsSync(AGENT_BUNDLE)) throw new Error(`${AGENT_BUNDLE} is missing: npm run build:agent`);
    const hostDir = this.hostDir(index);
    mkdirSync(hostDir, { recursive: true });
    const stateDir = join(this.dir, 'agents', `a${index}`);
    mkdirSync(stateDir, { recursive: true });
    const enrolled = await run(process.execPath, [
      AGENT_BUNDLE,
      'join',
      this.token,
      '--state-dir',
      stateDir,
      '--tag',
      'role=bench',
      '--allow-root',
      this.remote,
      '--no-start',
    ]);
    if (enrolled.code !== 0) throw new Error(`agent ${index}: join failed: ${enrolled.stderr}`);
    const unitPath = join(this.dir, 'units', `flotilla-agent-${index}.service`);
    mkdirSync(dirname(unitPath), { recursive: true });
    const installed = await run(process.execPath, [AGENT_BUNDLE, 'install-service', '--unit', unitPath, '--state-dir', stateDir]);
    if (installed.code !== 0) throw new Error(`agent ${index}: install-service failed: ${installed.stderr}`);
    const unit = readUnit(unitPath);
    const out = openSync(join(this.dir, 'logs', `agent-${index}.log`), 'a');
    // unshare execs sh, which execs node: the pid we get is the agent's own.
    const child = spawn(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', hostDir, this.remote, ...unit.argv],
      { stdio: ['ignore', out, out], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...unit.env, FLOTILLA_LOG_LEVEL: 'warn' } },
    );
    closeSync(out);
    return { pid: child.pid, child, hostDir, index };
  }

  /** Polls `hosts --json` (which also accepts pending hosts) until `n` are online. */
  async waitOnline(n, { timeoutMs = 120_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    let online = 0;
    while (Date.now() < deadline) {
      const r = await this.cli(['hosts', '--json', '--forks', '64'], { timeoutMs: Math.min(300_000, timeoutMs) });
      const hosts = parseJson(r.stdout);
      if (Array.isArray(hosts)) {
        const pending = hosts.filter((h) => h.status === 'pending').map((h) => h.id);
        if (pending.length) await this.cli(['accept', ...pending], { timeoutMs: Math.min(300_000, timeoutMs) });
        online = hosts.filter((h) => h.status === 'online').length;
        if (online >= n && pending.length === 0) return;
      }
      await sleep(1000);
    }
    throw new Error(`only ${online} of ${n} agents online after ${timeoutMs / 1000}s`);
  }

  /** Warm mode: starts the CLI's control process and dials `selector` through it (untimed). */
  async connect(selector, persist = '30m') {
    const r = await this.cli(['connect', selector, '--persist', persist, '--json'], { timeoutMs: 300_000 });
    const status = await this.cli(['connect', '--status', '--json']);
    const pid = parseJson(status.stdout)?.pid;
    if (pid) this.controlPids.add(pid);
    const hosts = parseJson(r.stdout)?.results;
    // Exit 1 = some host did not answer (it is dialled again by the next command).
    if (!pid || !Array.isArray(hosts)) throw new Error(`flotilla connect failed (exit ${r.code}): ${r.stderr}${r.stdout.slice(0, 2000)}`);
    return hosts;
  }

  /**
   * One invocation straight through the control process's socket, as the CLI forwards it but
   * without starting a CLI process: resolves to { ms, code }, ms from connecting to the exit
   * frame. What a warm run costs beyond `node` starting.
   */
  invokeControl(argv) {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const socket = connect(join(this.home, 'control.sock'));
      let buffer = Buffer.alloc(0);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('control process: no exit frame in 120 s'));
      }, 120_000);
      socket.on('connect', () => {
        const body = Buffer.from(JSON.stringify({ type: 'invoke', v: 1, argv, cwd: this.dir, stdoutTty: false, stderrTty: false, color: false }));
        const head = Buffer.alloc(4);
        head.writeUInt32BE(body.length);
        socket.write(Buffer.concat([head, body]));
      });
      socket.on('data', (chunk) => {
        buffer = Buffer.concat([buffer, chunk]);
        while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
          const message = JSON.parse(buffer.subarray(4, 4 + buffer.readUInt32BE(0)).toString());
          buffer = buffer.subarray(4 + buffer.readUInt32BE(0));
          if (message.type === 'exit') {
            clearTimeout(timer);
            socket.end();
            resolve({ ms: performance.now() - started, code: message.code });
          }
        }
      });
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** Stops the control process (and kills it by pid if it does not go). */
  async disconnect() {
    await this.cli(['connect', '--stop'], { timeoutMs: 30_000 });
    await sleep(200);
    for (const pid of this.controlPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone, as it should be */
      }
    }
    this.controlPids.clear();
  }

  /**
   * The fleet simulator: `count` agents in one process (bench/sim-agents.mjs), joining with a
   * token for that many hosts; waits until the CLI sees them all online and accepted.
   */
  async startSim(count, { tag = 'role=sim' } = {}) {
    const tok = parseJson((await this.cli(['token', 'create', '--ttl', '24h', '--uses', String(count), '--json'])).stdout);
    if (!tok?.token) throw new Error('token create failed for the simulator');
    const dir = join(this.dir, `sim-${count}`);
    mkdirSync(dir, { recursive: true });
    const out = openSync(join(this.dir, 'logs', `sim-${count}.log`), 'a');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(REPO, 'bench', 'sim-agents.mjs'),
        '--dir',
        dir,
        '--count',
        String(count),
        '--token',
        tok.token,
        '--stun',
        `stun:127.0.0.1:${this.port}`,
        '--tag',
        tag,
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', out] },
    );
    closeSync(out);
    this.sim = { child, count, pid: child.pid };
    const ready = await new Promise((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error(`simulator not ready after 600 s (see logs/sim-${count}.log)`)), 600_000);
      child.stdout.on('data', (d) => {
        text += d;
        const m = /sim-ready (\d+) (\S+)/.exec(text);
        if (m) {
          clearTimeout(timer);
          resolve({ agents: Number(m[1]), startup: m[2] });
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`simulator exited ${code} (see logs/sim-${count}.log)`));
      });
    });
    return ready;
  }

  async stopSim() {
    if (!this.sim) return;
    const { child } = this.sim;
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    await new Promise((r) => {
      const t = setTimeout(r, 8000);
      child.once('exit', () => {
        clearTimeout(t);
        r();
      });
    });
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    this.sim = null;
  }

  async stop() {
    await this.disconnect().catch(() => undefined);
    await this.stopSim();
    for (const a of this.agents) {
      try {
        process.kill(a.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    if (this.signal?.pid) {
      try {
        process.kill(this.signal.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    await sleep(500);
    for (const a of this.agents) {
      try {
        process.kill(a.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (this.signal?.pid) {
      try {
        process.kill(this.signal.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

/** The command line (ExecStart, split at spaces as the unit writes it) and Environment of a unit file. */
export function readUnit(path) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const exec = lines.find((l) => l.startsWith('ExecStart='));
  if (!exec) throw new Error(`${path} has no ExecStart`);
  const env = {};
  for (const l of lines.filter((x) => x.startsWith('Environment='))) {
    const kv = l.slice('Environment='.length);
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return { argv: exec.slice('ExecStart='.length).split(' ').filter(Boolean), env };
}

export function writeHostFile(path, content) {
  writeFileSync(path, content);
}
