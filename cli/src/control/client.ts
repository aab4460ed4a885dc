// The client side of warm mode: finds the control process of a CLI home through its unix socket,
// forwards one invocation and relays its output, progress and exit status; Ctrl-C becomes a
// `cancel` (twice quits). Loads nothing heavy, so a forwarded `flotilla run` starts quickly.

import { connect, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { parseDuration } from '../duration.ts';
import { homeDir } from '../home-dir.ts';
import { drawProgress } from '../output.ts';
import { reportError, wantsJson } from '../cli-errors.ts';
import { COMMANDS, scanArgv, WARM_COMMANDS } from './argv.ts';
import { createClientTerminal, terminalSize } from './terminal-client.ts';
import { CONTROL_VERSION, createFrameReader, encodeFrame, parseServerMessage, socketPath, type ClientMessage, type ServerMessage } from './protocol.ts';

/** Connects to the control socket; undefined when no control process listens there. */
export function openControlSocket(home: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect(socketPath(home));
    socket.once('connect', () => resolve(socket));
    socket.once('error', () => resolve(undefined)); // ENOENT, ECONNREFUSED (stale socket), EACCES
  });
}

/** Reads validated messages from a socket; a malformed one ends the conversation. */
function listen(socket: Socket, onMessage: (m: ServerMessage) => void, onBroken: (reason: string) => void): void {
  const reader = createFrameReader(
    (value) => {
      const message = parseServerMessage(value);
      if (message) onMessage(message);
      else onBroken('the control process sent a malformed message');
    },
    (reason) => onBroken(`the control process sent a broken frame: ${reason}`),
  );
  socket.on('data', (chunk: Buffer) => reader.push(chunk));
}

/** Sends `status` or `stop` and returns the answer; undefined when no control process runs. */
export async function askControl(home: string, type: 'status' | 'stop'): Promise<ServerMessage | undefined> {
  const socket = await openControlSocket(home);
  if (!socket) return undefined;
  return new Promise((resolve) => {
    let answer: ServerMessage | undefined;
    listen(
      socket,
      (m) => (answer ??= m),
      () => socket.destroy(),
    );
    socket.on('close', () => resolve(answer));
    socket.on('error', () => socket.destroy());
    socket.end(encodeFrame(type === 'status' ? { type, v: CONTROL_VERSION } : { type, v: CONTROL_VERSION }));
  });
}

/**
 * Forwards `argv` to the control process of `home` and relays everything back. Resolves with the
 * exit status, or undefined when there is no usable control process and nothing has run yet
 * (the caller then dials directly).
 */
export async function forwardInvocation(home: string, argv: string[]): Promise<number | undefined> {
  const socket = await openControlSocket(home);
  if (!socket) return undefined;
  return new Promise((resolve) => {
    let status: number | undefined;
    let started = false;
    let failure: string | undefined;
    let interrupts = 0;
    let drawing = false;
    const terminal = createClientTerminal(socket);
    const onSignal = () => {
      interrupts++;
      if (interrupts > 1) process.exit(130);
      if (!socket.destroyed) socket.write(encodeFrame({ type: 'cancel' }));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    listen(
      socket,
      (m) => {
        if (m.type !== 'refused') started = true;
        if (terminal.handle(m)) return;
        // A terminal or pipe that is behind stops the socket, and so the control process and
        // the agent behind it (bounded-output.ts), until it drains.
        if (m.type === 'write' && !process[m.stream].write(m.text) && !socket.isPaused()) {
          socket.pause();
          process[m.stream].once('drain', () => socket.resume());
        } else if (m.type === 'progress' && process.stderr.isTTY) {
          drawProgress(m.label, m.done, m.total);
          drawing = !m.end;
          if (m.end) process.stderr.write('\n');
        } else if (m.type === 'exit') status = m.code;
        else if (m.type === 'refused') failure = m.reason;
      },
      (reason) => {
        failure = reason;
        socket.destroy();
      },
    );
    socket.on('error', (error) => (failure ??= error.message));
    socket.on('close', () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (drawing || terminal.raw()) process.stderr.write(terminal.raw() ? '\r\n' : '\n');
      terminal.restore();
      if (status !== undefined) return resolve(status);
      if (!started) return resolve(undefined); // refused or gone before anything ran: dial directly
      const left = terminal.session();
      // A shell's one line is the sentence itself (FlotillaError's would wrap it in 'The connection closed…').
      if (left) {
        process.stderr.write(
          `error: the control process stopped answering mid-session (${failure ?? 'connection closed'}); terminal session ${left.session} keeps running on the host, back with: flotilla shell ${left.host} --attach ${left.session}\n`,
        );
        return resolve(1);
      }
      const error = new FlotillaError('channel-closed', `the control process stopped answering mid-command (${failure ?? 'connection closed'}); run it again`);
      reportError(error, wantsJson(argv), (stream, text) => process[stream].write(text));
      resolve(1);
    });
    const message: ClientMessage = {
      type: 'invoke',
      v: CONTROL_VERSION,
      argv,
      cwd: process.cwd(),
      stdoutTty: process.stdout.isTTY === true,
      stderrTty: process.stderr.isTTY === true,
      color: process.stdout.isTTY === true && !process.env['NO_COLOR'],
      stdinTty: process.stdin.isTTY === true,
      ...(process.stdout.isTTY ? terminalSize() : {}),
    };
    socket.write(encodeFrame(message));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a detached control process for `home` (`node <script> control-process --persist …`),
 * logging to <home>/control.log, and waits until it answers on its socket.
 */
export async function startControlProcess(home: string, persistMs: number, script: string): Promise<void> {
  if (!existsSync(`${home}/device.json`))
    throw new FlotillaError('bad-config', `no Flotilla device in ${home}: run \`flotilla init --signal URL\` first (or set FLOTILLA_HOME)`);
  const logPath = `${home}/control.log`;
  const fd = openSync(logPath, 'a', 0o600);
  const child = spawn(process.execPath, [script, 'control-process', '--persist', `${persistMs}ms`], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, FLOTILLA_HOME: home },
  });
  closeSync(fd);
  child.unref();
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if ((await askControl(home, 'status'))?.type === 'status') return;
    // Exit 0 means another control process won the race: keep asking it.
    if (exited !== undefined && exited !== 0) break;
    await sleep(50);
  }
  const tail = (() => {
    try {
      return readFileSync(logPath, 'utf8').trim().split('\n').slice(-5).join('\n');
    } catch {
      return '(no log)';
    }
  })();
  if (exited === undefined) child.kill();
  // Exit 1: it could not reach the signaling server (cli-errors.ts); dialling directly would only wait again.
  const reason = /^error: .*? \((.*)\)$/.exec(tail.split('\n').pop() ?? '')?.[1];
  if (exited === 1 && reason) throw new FlotillaError('signaling-failed', reason);
  throw new FlotillaError('bad-config', `the control process did not start (see ${logPath}):\n${tail}`);
}

/**
 * The thin client's entry: forwards run/push/fetch/ping to this home's control process, starting
 * one first with --persist or $FLOTILLA_PERSIST. Undefined means "not handled: run the full CLI".
 */
export async function tryControl(argv: string[], script: string, env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  const scan = scanArgv(argv);
  if (!scan.command || !WARM_COMMANDS.has(scan.command) || scan.help || scan.noPersist) return undefined;
  const home = homeDir(env);
  const forwarded = await forwardInvocation(home, argv);
  if (forwarded !== undefined) return forwarded;
  const persist = scan.persist ?? env['FLOTILLA_PERSIST'];
  if (!persist) return undefined;
  const persistMs = parseDuration(persist);
  if (persistMs <= 0) return undefined;
  try {
    await startControlProcess(home, persistMs, script);
  } catch (error) {
    if (error instanceof FlotillaError && error.code === 'signaling-failed')
      return reportError(error, wantsJson(argv), (stream, text) => process[stream].write(text));
    process.stderr.write(`warning: ${(error as Error).message}\nwarning: dialling directly instead\n`);
    return undefined;
  }
  return forwardInvocation(home, argv);
}

/** Which code cache the full CLI loads for `argv` (bin/compile-cache.js): its command's, or 'other'. */
export function cacheKind(argv: readonly string[]): string {
  const { command, help } = scanArgv(argv);
  return command !== undefined && !help && COMMANDS.has(command) ? command : 'other';
}
