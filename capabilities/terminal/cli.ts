// flotilla shell: an interactive terminal on one host. Raw mode, the window size sent on
// SIGWINCH, the remote exit status as its own, `~.` after a newline to leave (the session stays
// on the host for a reattach, `--attach`), and stdin that is not a terminal sent as input (a
// script: `flotilla shell web-1 -- sh -s < script.sh`). A dropped connection is dialled again
// and the session reattached from the last byte shown.

import { FlotillaError, fromWireError } from '../../shared/wire/errors.ts';
import { call, type AgentConnection, type RequestEvent } from '../../shared/controller/agent-connection.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet, selectTargets, type Fleet } from '../../cli/src/fleet.ts';
import { shellWord } from '../../cli/src/cli-errors.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { spec as terminals, type TerminalSessionInfo } from '../terminals/spec.ts';
import { DEFAULT_TERMINAL_WINDOW, spec, type TerminalOpen } from './spec.ts';
import { EscapeScanner } from './escape.ts';
import { watchLiveness, type Liveness } from './liveness.ts';

/** Marks the moment a piped session's terminal stopped echoing (see pipedCommand). */
export const READY_MARK = '\x1b]697;flotilla-ready\x07';
const RECONNECT_FOR_MS = 30_000;

/**
 * For stdin that is not a terminal, what the login shell runs instead of the command: the pty
 * stops echoing and translating newlines, and the command reads its stdin from a pipe fed by
 * `cat` from the terminal, so it runs as over ssh without -t (`sh -s` reads a script and prints
 * no prompts, its output is its own bytes). The end of stdin arrives as ^D, which ends `cat`;
 * a command that ends first stops `cat`. A mark printed once the terminal is quiet tells the
 * CLI when to send the input, so none of it is echoed.
 */
export function pipedCommand(command: string | undefined): string {
  const mark = READY_MARK.replace('\x1b', '\\033').replace('\x07', '\\007');
  return [
    'stty -echo -onlcr 2>/dev/null',
    'd=$(mktemp -d) && mkfifo "$d/in" || exit 125',
    'exec 3<&0',
    'cat <&3 >"$d/in" & c=$!',
    `printf '${mark}'`,
    `(${command === undefined ? 'exec "$SHELL" -s' : command}\n) <"$d/in"`,
    's=$?',
    'kill $c 2>/dev/null',
    'rm -rf "$d"',
    'exit $s',
  ].join('\n');
}

/** The command line `flotilla shell host -- words…` asks for: one word is a shell line, several are exact words. */
export function commandOf(rest: readonly string[]): string | undefined {
  if (rest.length === 0) return undefined;
  return rest.length === 1 ? rest[0] : rest.map(shellWord).join(' ');
}

async function oneHost(fleet: Fleet, selector: string): Promise<{ id: string; name: string }> {
  const { targets, names } = await selectTargets(fleet, selector);
  if (targets.length !== 1)
    throw new FlotillaError(
      'usage',
      targets.length === 0
        ? `"${selector}" matches no accepted host; flotilla shell takes one host, as in: flotilla shell web-1`
        : `"${selector}" matches ${targets.length} hosts (${[...names.values()].slice(0, 5).join(', ')}…); flotilla shell takes one host`,
    );
  const target = targets[0]!;
  const name = names.get(target.id) ?? target.id.slice(0, 8);
  if (!target.online) throw new FlotillaError('unreachable', `${name} is offline`);
  return { id: target.id, name };
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

async function listSessions(ctx: CommandContext, connection: AgentConnection): Promise<number> {
  const result = await call(connection, terminals, {});
  if (result.status !== 'ok' || !result.data) throw result.error ? fromWireError(result.error) : new FlotillaError('internal', `status ${result.status}`);
  const list: TerminalSessionInfo[] = result.data.sessions;
  if (ctx.flags.json) {
    ctx.out(JSON.stringify(list));
    return 0;
  }
  if (!list.length) {
    ctx.out('No terminal sessions.');
    return 0;
  }
  const now = Date.now();
  const rows = list.map((s) => [
    s.session,
    s.user,
    s.attached ? 'attached' : s.expiresAt ? `detached, ends in ${ago(s.expiresAt - now)}` : 'detached',
    `${s.cols}x${s.rows}`,
    ago(now - s.startedAt),
    s.deviceName ?? s.device.slice(0, 8),
    s.command ?? '(login shell)',
  ]);
  const header = ['SESSION', 'USER', 'STATE', 'SIZE', 'AGE', 'DEVICE', 'COMMAND'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows]) ctx.out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  return 0;
}

/** How one open (or reattach) of the session ended. */
type Ending = { kind: 'exit'; code: number } | { kind: 'detached' } | { kind: 'dropped'; error: FlotillaError };

async function shellCommand(ctx: CommandContext): Promise<number> {
  const [selector, ...extra] = ctx.args;
  if (!selector || extra.length)
    throw new FlotillaError('usage', 'flotilla shell takes one host, and the command after --, as in: flotilla shell web-1 or flotilla shell web-1 -- top');
  const user = typeof ctx.flags['user'] === 'string' ? ctx.flags['user'] : undefined;
  const attach = typeof ctx.flags['attach'] === 'string' ? ctx.flags['attach'] : undefined;
  if (attach !== undefined && ctx.rest.length) throw new FlotillaError('usage', '--attach reattaches to a running session; it takes no command');
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  const stdin = process.stdin;
  const stdout = process.stdout;
  const interactive = stdin.isTTY === true;
  let restore = () => undefined as void;
  try {
    const host = await oneHost(fleet, selector);
    let connection = await fleet.controller.connect(host.id);
    if (ctx.flags['list'] === true) return await listSessions(ctx, connection);

    const size = () => ({ cols: Math.min(1000, stdout.columns || 80), rows: Math.min(1000, stdout.rows || 24) });
    const command = interactive ? commandOf(ctx.rest) : pipedCommand(commandOf(ctx.rest));
    let session = attach;
    /** Offset after the last byte written to stdout (and taken by it). */
    let shown = 0;
    let requestId: string | undefined;
    let ready = interactive || attach !== undefined;
    let markBuffer = '';
    const pendingInput: Uint8Array[] = [];
    let lastByte = 10;

    const send = (message: Parameters<AgentConnection['send']>[0], body?: Uint8Array) => {
      if (!connection.closed) void connection.send(message, body).catch(() => undefined);
    };
    const sendInput = (bytes: Uint8Array) => {
      if (!bytes.length) return;
      if (!ready || !requestId) pendingInput.push(bytes);
      else send({ type: 'terminal.input', id: requestId }, bytes);
    };
    /** End of piped stdin: an end-of-file at the start of a line (two ^D when the last line has no newline). */
    const sendEof = () => sendInput(Uint8Array.from(lastByte === 10 ? [4] : [4, 4]));
    const flushPending = () => {
      if (!ready || !requestId) return;
      for (const bytes of pendingInput.splice(0)) send({ type: 'terminal.input', id: requestId }, bytes);
    };

    let leave: (() => void) | undefined;
    const escape = new EscapeScanner();
    const onStdin = (chunk: Buffer) => {
      if (!interactive) {
        if (chunk.length) lastByte = chunk[chunk.length - 1]!;
        sendInput(chunk);
        return;
      }
      const { send: out, leave: wantsLeave } = escape.scan(chunk);
      sendInput(out);
      if (wantsLeave) leave?.();
    };
    stdin.on('data', onStdin);
    stdin.on('end', () => {
      if (!interactive) sendEof();
    });
    if (interactive) {
      stdin.setRawMode(true);
      restore = () => {
        stdin.setRawMode(false);
      };
    }
    stdin.resume();
    const onResize = () => {
      if (requestId) send({ type: 'terminal.resize', id: requestId, ...size() });
    };
    stdout.on('resize', onResize);

    const openOnce = (): Promise<Ending> =>
      new Promise<Ending>((resolve) => {
        let window = DEFAULT_TERMINAL_WINDOW;
        let acked = shown;
        let writing = Promise.resolve();
        let exitCode: number | undefined;
        let liveness: Liveness | undefined;
        const body: TerminalOpen = {
          ...size(),
          ...(session === undefined ? { ...(command === undefined ? {} : { command }), ...(user ? { user } : {}) } : { session, from: shown }),
          window,
        };
        const write = (bytes: Uint8Array, end: number) => {
          writing = writing.then(
            () =>
              new Promise<void>((done) => {
                stdout.write(bytes, () => {
                  shown = end;
                  // Acknowledge what stdout has taken, in steps of an eighth of the window.
                  if (requestId && shown - acked >= window / 8) {
                    acked = shown;
                    send({ type: 'terminal.ack', id: requestId, offset: shown });
                  }
                  done();
                });
              }),
          );
          // A small tail is acknowledged at once, so the agent never waits on it.
          void writing.then(() => {
            if (requestId && shown > acked) {
              acked = shown;
              send({ type: 'terminal.ack', id: requestId, offset: shown });
            }
          });
        };
        const onEvent = (event: RequestEvent, bytes: Uint8Array) => {
          liveness?.heard();
          if (event.type === 'terminal.opened') {
            const opened = connection;
            liveness?.stop();
            liveness = event.pings
              ? watchLiveness({
                  ping: () => requestId && send({ type: 'terminal.ping', id: requestId }),
                  // Closing the connection ends this request as dropped: the loop below dials again and reattaches.
                  dead: (silentMs) => {
                    ctx.err(`${interactive ? '\r\n' : ''}[flotilla: no answer from ${host.name} for ${Math.round(silentMs / 1000)} s; reconnecting]`);
                    opened.close();
                  },
                })
              : undefined;
            session = event.session;
            window = event.window;
            if (event.lost && interactive) stdout.write(`\r\n[flotilla: ${event.lost} bytes of output were lost while detached]\r\n`);
            if (event.offset > shown) shown = event.offset;
            acked = shown;
            flushPending();
            return;
          }
          if (event.type === 'terminal.output') {
            let data = bytes;
            const end = event.offset + bytes.length;
            if (end <= shown) return; // already shown (a reattach that overlaps)
            if (event.offset < shown) data = bytes.subarray(shown - event.offset);
            if (!ready) {
              // Before the mark: nothing is shown (the mark ends the piped preamble).
              markBuffer += Buffer.from(data).toString('latin1');
              const at = markBuffer.indexOf(READY_MARK);
              if (at < 0) {
                shown = end;
                if (requestId) send({ type: 'terminal.ack', id: requestId, offset: end });
                return;
              }
              const after = Buffer.from(markBuffer.slice(at + READY_MARK.length), 'latin1');
              markBuffer = '';
              ready = true;
              flushPending();
              write(after, end);
              return;
            }
            write(data, end);
            return;
          }
          if (event.type === 'terminal.exit') exitCode = event.exitCode;
          // terminal.pong: heard above, nothing else to do.
        };
        leave = () => {
          if (requestId) send({ type: 'terminal.detach', id: requestId });
        };
        call(connection, spec, body, { onEvent, onSent: (id) => (requestId = id) }).then(
          async (result) => {
            liveness?.stop();
            await writing;
            requestId = undefined;
            if (result.status !== 'ok') {
              resolve({ kind: 'dropped', error: result.error ? fromWireError(result.error) : new FlotillaError('internal', `status ${result.status}`) });
              return;
            }
            if (result.data?.detached) resolve({ kind: 'detached' });
            else resolve({ kind: 'exit', code: result.data?.exitCode ?? exitCode ?? result.exitCode ?? 0 });
          },
          async (error: unknown) => {
            liveness?.stop();
            await writing;
            requestId = undefined;
            resolve({ kind: 'dropped', error: error instanceof FlotillaError ? error : new FlotillaError('channel-closed', String(error)) });
          },
        );
      });

    for (;;) {
      const ending = await openOnce();
      if (ending.kind === 'exit') return ending.code;
      if (ending.kind === 'detached') {
        restore();
        ctx.err(
          `${interactive ? '\r\n' : ''}Left terminal session ${session} on ${host.name}; it keeps running. Back with: flotilla shell ${selector} --attach ${session}`,
        );
        return 0;
      }
      // A refusal before the session opened is the answer; a dropped connection is dialled again.
      if (session === undefined || ending.error.code !== 'channel-closed') throw ending.error;
      const until = Date.now() + RECONNECT_FOR_MS;
      for (;;) {
        try {
          connection = await fleet.controller.connect(host.id);
          break;
        } catch (error) {
          if (Date.now() > until) {
            // Giving up leaves the session running on the host: say how to come back to it.
            restore();
            ctx.err(
              `${interactive ? '\r\n' : ''}Terminal session ${session} keeps running on ${host.name}. Back with: flotilla shell ${selector} --attach ${session}`,
            );
            throw error;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
  } finally {
    restore();
    stdin.pause();
    stdin.removeAllListeners('data');
    stdout.removeAllListeners('resize');
    await fleet.close();
  }
}

/** The CLI commands of this capability (capabilities/terminal/spec.ts declares their usage and options). */
export const commands = { shell: shellCommand };
