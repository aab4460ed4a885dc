// Real processes for integration tests: the signaling server, agents and the CLI, each a
// child process with its own home or state directory, cleaned up after every test file.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin');

/** A free TCP port on 127.0.0.1 (and the same UDP port, for STUN). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const server = createServer();
      server.once('error', rej);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => res(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const udpFree = await new Promise<boolean>((res) => {
      const socket = createSocket('udp4');
      socket.once('error', () => res(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => res(true)));
    });
    if (udpFree) return port;
  }
}

/** A child process with its output captured. */
export interface Proc {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Collects a child's stdout and stderr and waits for a pattern in them. */
export function watchOutput(child: ChildProcess, label: string): Pick<Proc, 'output' | 'waitFor'> {
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return {
    output: () => text,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((res, rej) => {
        const check = () => {
          const match = text.match(pattern);
          if (!match) return;
          listeners.delete(check);
          clearTimeout(timer);
          res(match);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          rej(new Error(`timed out waiting for ${pattern} in ${label}:\n${text.slice(-3000)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}

/** Starts `node bin/<name>.js args…`. */
export function startProc(name: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [join(BIN, `${name}.js`), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return procOf(child, `output of ${name}`);
}

/** A started child as a Proc: output watched, stopped with SIGTERM then SIGKILL, killed by killAll. */
export function procOf(child: ChildProcess, label: string): Proc {
  running.add(child);
  const watched = watchOutput(child, label);
  const exited = new Promise<number | null>((res) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      res(code ?? (signal ? -1 : null));
    }),
  );
  return {
    child,
    output: watched.output,
    waitFor: watched.waitFor,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Kills every process a test file started (afterAll safety net). */
export async function killAll(): Promise<void> {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** Result of a CLI invocation. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `flotilla args…` with FLOTILLA_HOME=home (from `cwd`, default the repo), `input` on a piped stdin if given; resolves when it exits. */
export function cli(
  home: string,
  args: string[],
  options: { timeoutMs?: number; cwd?: string; env?: Record<string, string>; input?: string; onStart?: (child: ChildProcess) => void } = {},
): Promise<CliResult> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [join(BIN, 'flotilla.js'), ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, FLOTILLA_HOME: home, NO_COLOR: '1', ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    running.add(child);
    child.stdin?.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`flotilla ${args.join(' ')} timed out\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    // 'close', not 'exit': the pipes may still hold output when the process has exited.
    child.once('close', (code) => {
      running.delete(child);
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
    options.onStart?.(child);
  });
}

/** Waits (up to 30 s) until `flotilla hosts` in `home` lists host `id` online; false if it never does. */
export async function waitOnline(home: string, id: string, env: Record<string, string> = {}): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    const hosts = await cli(home, ['hosts', '--json'], { env });
    const list = hosts.code === 0 ? (JSON.parse(hosts.stdout) as { id: string; status: string }[]) : [];
    if (list.some((h) => h.id === id && h.status === 'online')) return true;
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

/** A temporary directory removed by the returned cleanup. */
export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `flotilla-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** The signaling server as a child process on free loopback ports. */
export async function startSignal(dataDir: string, port?: number): Promise<Proc & { url: string; port: number }> {
  const p = port ?? (await freePort());
  const proc = startProc('flotilla-signal', ['--host', '127.0.0.1', '--port', String(p), '--stun-port', String(p), '--data-dir', dataDir]);
  await proc.waitFor(/listening/i);
  return Object.assign(proc, { url: `http://127.0.0.1:${p}/`, port: p });
}

/** Enrolls and starts an agent with its own state directory. */
export async function startAgent(stateDir: string, token: string, flags: string[] = []): Promise<Proc & { id: string }> {
  const proc = startProc('flotilla-agent', ['join', token, '--state-dir', stateDir, ...flags]);
  const match = await proc.waitFor(/Enrolled as ([a-z2-7]{52})/);
  // Registered with the signaling server, not merely started.
  await proc.waitFor(/"level":"info","component":"agent","event":"signaling-open"/);
  return Object.assign(proc, { id: match[1]! });
}

/** Restarts an enrolled agent (same state directory). */
export function restartAgent(stateDir: string, flags: string[] = []): Proc {
  return startProc('flotilla-agent', ['run', '--state-dir', stateDir, ...flags]);
}

/**
 * A small ext4 filesystem the test owns (`<base>/fill.img`, loop-mounted on `<base>/fill`), for
 * disk rules: mount it before the agent starts (its sampler lists filesystems at start), fill
 * and empty it, and `umount` it in afterAll. Needs root.
 */
export async function mountLoopFs(base: string, mb = 8): Promise<string> {
  const mount = join(base, 'fill');
  const image = join(base, 'fill.img');
  await mkdir(mount, { recursive: true });
  execFileSync('truncate', ['-s', `${mb}M`, image]);
  execFileSync('mkfs.ext4', ['-q', '-F', image]);
  execFileSync('mount', ['-o', 'loop', image, mount]);
  return mount;
}

/** Writes `mib` MiB to `<mount>/blob` (the filesystem of mountLoopFs), flushed so that statfs counts it. */
export async function fillLoopFs(mount: string, mib: number): Promise<void> {
  const handle = await open(join(mount, 'blob'), 'w');
  try {
    await handle.write(Buffer.alloc(mib * 1024 * 1024, 7));
    await handle.sync();
  } finally {
    await handle.close();
  }
}
