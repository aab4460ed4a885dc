// One `flotilla shell` session over a connection to its host, for a local terminal: raw mode, the
// window size sent on resize, the remote exit status as its own, `~.` after a newline to leave
// (the session stays on the host for `--attach`), and piped stdin sent as input. A dropped
// connection is dialled again and the session reattached from the last byte shown. The direct
// CLI and the control process (warm mode) both run it; only the LocalTerminal differs.

import { FlotillaError, fromWireError } from '../../shared/wire/errors.ts';
import { call, type AgentConnection, type RequestEvent } from '../../shared/controller/agent-connection.ts';
import { DEFAULT_TERMINAL_WINDOW, MAX_INPUT, spec, type TerminalOpen } from './spec.ts';
import { EscapeScanner } from './escape.ts';
import { watchLiveness, type Liveness } from './liveness.ts';
import type { LocalTerminal } from './local-terminal.ts';

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

/** What runShellSession needs. */
export interface ShellSessionOptions {
  host: { id: string; name: string };
  /** The host as the user named it, for the `--attach` hint. */
  selector: string;
  /** An open connection to the host, and how to dial it again after a drop. */
  connection: AgentConnection;
  reconnect: () => Promise<AgentConnection>;
  /** The command line (absent: the login shell); piped input wraps it in pipedCommand. */
  command: string | undefined;
  user: string | undefined;
  /** Reattach to this session instead of starting one. */
  attach: string | undefined;
  terminal: LocalTerminal;
  /** A line on stderr. */
  err(text: string): void;
}

/** How one open (or reattach) of the session ended. */
type Ending = { kind: 'exit'; code: number } | { kind: 'detached' } | { kind: 'dropped'; error: FlotillaError };

/** Runs the session until its program exits (its status), the user leaves with `~.` (0), or it fails (throws). */
export async function runShellSession(options: ShellSessionOptions): Promise<number> {
  const { host, selector, attach, user, terminal } = options;
  let connection = options.connection;
  const interactive = terminal.interactive;
  const command = interactive ? options.command : pipedCommand(options.command);
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
  const sendNow = (id: string, bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length; i += MAX_INPUT) send({ type: 'terminal.input', id }, bytes.subarray(i, i + MAX_INPUT));
  };
  const sendInput = (bytes: Uint8Array) => {
    if (!bytes.length) return;
    if (!ready || !requestId) pendingInput.push(bytes);
    else sendNow(requestId, bytes);
  };
  /** End of piped stdin: an end-of-file at the start of a line (two ^D when the last line has no newline). */
  const sendEof = () => sendInput(Uint8Array.from(lastByte === 10 ? [4] : [4, 4]));
  const flushPending = () => {
    if (!ready || !requestId) return;
    for (const bytes of pendingInput.splice(0)) sendNow(requestId, bytes);
  };

  let leave: (() => void) | undefined;
  const escape = new EscapeScanner();
  const onGone = () => leave?.();
  terminal.gone?.addEventListener('abort', onGone);
  terminal.start({
    input: (chunk) => {
      if (!interactive) {
        if (chunk.length) lastByte = chunk[chunk.length - 1]!;
        sendInput(chunk);
        return;
      }
      const { send: out, leave: wantsLeave } = escape.scan(chunk);
      sendInput(out);
      if (wantsLeave) leave?.();
    },
    end: () => {
      if (!interactive) sendEof();
    },
    resize: () => {
      if (requestId) send({ type: 'terminal.resize', id: requestId, ...terminal.size() });
    },
  });
  terminal.raw(true);

  const openOnce = (): Promise<Ending> =>
    new Promise<Ending>((resolve) => {
      let window = DEFAULT_TERMINAL_WINDOW;
      let acked = shown;
      let writing = Promise.resolve();
      let exitCode: number | undefined;
      let liveness: Liveness | undefined;
      const body: TerminalOpen = {
        ...terminal.size(),
        ...(session === undefined ? { ...(command === undefined ? {} : { command }), ...(user ? { user } : {}) } : { session, from: shown }),
        window,
      };
      const ack = () => {
        if (requestId && shown > acked) {
          acked = shown;
          send({ type: 'terminal.ack', id: requestId, offset: shown });
        }
      };
      const write = (bytes: Uint8Array, end: number) => {
        writing = writing.then(
          () =>
            new Promise<void>((done) => {
              terminal.write(bytes, () => {
                shown = end;
                // Acknowledge what stdout has taken, in steps of an eighth of the window.
                if (shown - acked >= window / 8) ack();
                done();
              });
            }),
        );
        // A small tail is acknowledged at once, so the agent never waits on it.
        void writing.then(ack);
      };
      const onEvent = (event: RequestEvent, bytes: Uint8Array) => {
        liveness?.heard();
        if (event.type === 'terminal.opened') {
          const opened = connection;
          liveness?.stop();
          // An agent that answers pings is watched: 8 s of silence closes the connection, which
          // ends this request as dropped, and the loop below dials again and reattaches (a
          // data channel can stay wedged after a long network cut although ICE reports it back).
          liveness = event.pings
            ? watchLiveness({
                ping: () => requestId && send({ type: 'terminal.ping', id: requestId }),
                dead: (silentMs) => {
                  options.err(`${interactive ? '\r\n' : ''}[flotilla: no answer from ${host.name} for ${Math.round(silentMs / 1000)} s; reconnecting]`);
                  opened.close();
                },
              })
            : undefined;
          session = event.session;
          window = event.window;
          terminal.opened?.(selector, session);
          if (event.lost && interactive)
            terminal.write(new TextEncoder().encode(`\r\n[flotilla: ${event.lost} bytes of output were lost while detached]\r\n`), () => undefined);
          if (event.offset > shown) shown = event.offset;
          acked = shown;
          flushPending();
          // A warm client that left before the session opened: detach it now.
          if (terminal.gone?.aborted) leave?.();
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

  try {
    for (;;) {
      const ending = await openOnce();
      if (ending.kind === 'exit') return ending.code;
      if (ending.kind === 'detached') {
        terminal.raw(false);
        options.err(
          `${interactive ? '\r\n' : ''}Left terminal session ${session} on ${host.name}; it keeps running. Back with: flotilla shell ${selector} --attach ${session}`,
        );
        return 0;
      }
      // A refusal before the session opened is the answer; a dropped connection is dialled again.
      if (session === undefined || ending.error.code !== 'channel-closed' || terminal.gone?.aborted) throw ending.error;
      const until = Date.now() + RECONNECT_FOR_MS;
      for (;;) {
        try {
          connection = await options.reconnect();
          break;
        } catch (error) {
          if (Date.now() > until) {
            // Giving up leaves the session running on the host: say how to come back to it.
            terminal.raw(false);
            options.err(
              `${interactive ? '\r\n' : ''}Terminal session ${session} keeps running on ${host.name}. Back with: flotilla shell ${selector} --attach ${session}`,
            );
            throw error;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
  } finally {
    terminal.gone?.removeEventListener('abort', onGone);
    terminal.stop();
  }
}
