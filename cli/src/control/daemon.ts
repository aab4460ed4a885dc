// The control process of warm mode (`flotilla connect`, --persist): holds one CLI home and its
// fleet (device identity, signaling registration, open data channels to hosts) and serves
// run/push/fetch/ping invocations forwarded over a unix socket in the home (mode 0600). It
// exits after --persist without a request, on `connect --stop`, or when device.json changes.

import { createServer, type Socket } from 'node:net';
import { chmod, realpath, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { createLogger } from '../../../node/log.ts';
import { openHome } from '../home.ts';
import { openFleet } from '../fleet.ts';
import { parseDuration } from '../duration.ts';
import { scanArgv, WARM_COMMANDS } from './argv.ts';
import { openControlSocket } from './client.ts';
import { runInScope, type ControlScope } from './scope.ts';
import { createTerminalRelay, relayedSessions } from './terminal-relay.ts';
import {
  CONTROL_VERSION,
  WRITE_PIECE,
  createFrameReader,
  encodeFrame,
  parseClientMessage,
  socketPath,
  type ClientMessage,
  type ControlStatus,
  type ServerMessage,
} from './protocol.ts';
import type { CommandContext } from '../commands/context.ts';

const mtimeOf = (path: string) =>
  stat(path).then(
    (s) => s.mtimeMs,
    () => 0,
  );

/**
 * Linux: binds an abstract unix socket named after the home (no file; the kernel frees it when
 * the process dies, however it dies). Resolves with the server holding it, or undefined when
 * another process holds it. Elsewhere resolves with a server that holds nothing, and the live
 * socket check alone decides.
 */
export async function holdHomeLock(homeDir: string): Promise<{ close(): void } | undefined> {
  if (process.platform !== 'linux') return { close: () => undefined };
  const name = `\0flotilla-control-${createHash('sha256')
    .update(await realpath(homeDir))
    .digest('hex')
    .slice(0, 40)}`;
  const holder = createServer();
  return new Promise((resolve, reject) => {
    holder.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(undefined) : reject(error)));
    holder.listen(name, () => {
      holder.unref();
      resolve({ close: () => holder.close() });
    });
  });
}

/** `flotilla control-process --persist 10m`: serves until idle for that long. Resolves with 0. */
/** How the control process runs one forwarded invocation: the CLI's own entry, passed in by it (no import cycle). */
export interface Invoker {
  main(argv: string[]): Promise<number>;
  exitStatusFor(error: unknown, err: (text: string) => void): number;
}

export async function runControlProcess(ctx: CommandContext, { main, exitStatusFor }: Invoker): Promise<number> {
  const log = createLogger('control', 'info');
  const persistMs = parseDuration(ctx.flags.persist ?? '10m');
  if (persistMs <= 0) throw new FlotillaError('usage', '--persist must be longer than 0, as in --persist 10m');
  const home = await openHome();
  const path = socketPath(home.dir);
  if (Buffer.byteLength(path) > 100)
    throw new FlotillaError('bad-config', `the control socket path ${path} is too long for a unix socket; use a shorter FLOTILLA_HOME`);
  // One control process per home, even when several start at once (two invocations with
  // --persist, say): the lock is held for the process's life and released by the kernel.
  // Without the lock (Linux) another process holds it; with it, a live socket still means one is
  // serving (other systems, where the lock holds nothing).
  const alreadyRunning = () => {
    log('info', 'control-already-running', { socket: path });
    return 0;
  };
  const lock = await holdHomeLock(home.dir);
  if (!lock) return alreadyRunning();
  const live = await openControlSocket(home.dir);
  if (live) {
    live.destroy();
    lock.close();
    return alreadyRunning();
  }
  await rm(path, { force: true }); // a stale socket of a control process that was killed
  const devicePath = join(home.dir, 'device.json');
  const deviceMtime = await mtimeOf(devicePath);
  // Invocations bound their own fan-out (--forks); the shared controller must not bound it lower.
  const fleet = await openFleet(home, { forks: 4096, log: (event, fields) => log(event.includes('fail') ? 'warn' : 'debug', event, fields) });

  const startedAt = Date.now();
  let lastUsedAt = startedAt;
  let requests = 0;
  const active = new Set<AbortController>();
  let idle: NodeJS.Timeout | undefined;
  let stopping = false;
  let finished: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finished = resolve));

  const server = createServer((socket) => serve(socket));
  const armIdle = () => {
    clearTimeout(idle);
    if (active.size === 0 && !stopping) idle = setTimeout(() => void shutdown('idle'), persistMs);
  };

  async function shutdown(reason: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    clearTimeout(idle);
    log('info', 'control-stopping', { reason, requests });
    server.close();
    await rm(path, { force: true });
    lock?.close();
    for (const abort of active) abort.abort();
    await fleet.close();
    finished(0);
  }

  async function status(): Promise<ControlStatus> {
    const hosts = new Map((await home.hosts.all()).map((h) => [h.id, h]));
    return {
      pid: process.pid,
      home: home.dir,
      startedAt,
      lastUsedAt,
      persistMs,
      expiresAt: active.size ? 0 : lastUsedAt + persistMs,
      requests,
      active: active.size,
      connections: fleet.openLinks().map((id) => ({ id, name: hosts.get(id)?.facts?.hostname ?? id.slice(0, 8) })),
      terminals: [...relayedSessions],
    };
  }

  async function invoke(
    message: Extract<ClientMessage, { type: 'invoke' }>,
    socket: Socket,
    send: (m: ServerMessage) => void,
    abort: AbortController,
    refuse: (reason: string) => void,
    relay: ReturnType<typeof createTerminalRelay>,
  ): Promise<void> {
    // A refusal makes the client dial directly: only before anything ran.
    // What it serves is said before the version, to a client of any version.
    const command = scanArgv(message.argv).command;
    if (!command || !WARM_COMMANDS.has(command)) return refuse(`a control process serves ${[...WARM_COMMANDS].join(', ')}, not ${command ?? 'nothing'}`);
    if (message.v !== CONTROL_VERSION) return refuse(`control protocol ${message.v}, this control process speaks ${CONTROL_VERSION}`);
    if (stopping) return refuse('the control process is stopping');
    if ((await mtimeOf(devicePath)) !== deviceMtime) {
      refuse(`the device in ${home.dir} changed`);
      return shutdown('device.json changed');
    }
    requests++;
    active.add(abort);
    clearTimeout(idle);
    let drainWait: Promise<void> | undefined;
    const write = (stream: 'stdout' | 'stderr', text: string) => {
      for (let i = 0; i < text.length; i += WRITE_PIECE) send({ type: 'write', stream, text: text.slice(i, i + WRITE_PIECE) });
    };
    const scope: ControlScope = {
      home,
      fleet,
      cwd: message.cwd,
      signal: abort.signal,
      color: message.color,
      write,
      drained: () => {
        if (!socket.writableNeedDrain || socket.destroyed) return Promise.resolve();
        // One wait shared by every writer (a listener per write made each drain cost O(n²)).
        return (drainWait ??= new Promise<void>((resolve) => {
          const done = () => {
            socket.off('drain', done);
            socket.off('close', done);
            drainWait = undefined;
            resolve();
          };
          socket.on('drain', done);
          socket.on('close', done);
        }));
      },
      progress: (label, doneBytes, total, end) => send({ type: 'progress', label: label.slice(0, 1024), done: doneBytes, total, end }),
      terminal: relay.terminal,
    };
    let code: number;
    try {
      await home.sync();
      // Fresh presence per invocation, not waited for here: `run` starts on the hosts it holds
      // connections to while it is under way (Fleet.resolveStaged); what resolves the selector
      // waits for it. If the signaling server is down, the last answer will do.
      fleet.presence().catch((error: unknown) => log('warn', 'presence-failed', { error: (error as Error).message }));
      code = await runInScope(scope, () => main(message.argv));
    } catch (error) {
      code = exitStatusFor(error, (text) => write('stderr', text + '\n'));
    } finally {
      active.delete(abort);
      lastUsedAt = Date.now();
      armIdle();
    }
    send({ type: 'exit', code });
    socket.end();
  }

  function serve(socket: Socket): void {
    let abort: AbortController | undefined;
    let relay: ReturnType<typeof createTerminalRelay> | undefined;
    const send = (m: ServerMessage) => {
      if (!socket.destroyed && socket.writable) socket.write(encodeFrame(m));
    };
    const refuse = (reason: string) => {
      log('warn', 'control-client-refused', { reason });
      send({ type: 'refused', reason });
      socket.end();
    };
    const reader = createFrameReader((value) => {
      const message = parseClientMessage(value);
      if (!message) return refuse('malformed message');
      if (message.type === 'cancel') return abort?.abort();
      if (message.type === 'stdin' || message.type === 'eof' || message.type === 'resize') return relay?.deliver(message);
      if (abort) return refuse('one invocation per connection');
      if (message.type === 'status') {
        void status().then((s) => (send({ type: 'status', status: s }), socket.end()));
      } else if (message.type === 'stop') {
        send({ type: 'bye' });
        socket.end();
        void shutdown('stop requested');
      } else {
        abort = new AbortController();
        relay = createTerminalRelay(message, socket, send, abort.signal);
        invoke(message, socket, send, abort, refuse, relay).catch((error: unknown) => {
          log('error', 'control-invoke-failed', { error: String(error) });
          socket.destroy();
        });
      }
    }, refuse);
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    // The client went away (Ctrl-C twice, killed): cancel what it started.
    socket.on('close', () => abort?.abort());
    socket.on('error', (error) => log('debug', 'control-client-error', { error: error.message }));
  }

  const oldMask = process.umask(0o177); // the socket is created 0600: only this user may connect
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  await chmod(path, 0o600);
  const onSignal = () => void shutdown('signal');
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => undefined); // outlives the terminal that started it
  armIdle();
  log('info', 'control-listening', { socket: path, persistMs, pid: process.pid });
  return done;
}
