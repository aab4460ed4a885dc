// The control process's side of a warm `flotilla shell`: a LocalTerminal whose keystrokes, end of
// input and resizes come from the client over the control socket (stdin, eof, resize) and whose
// output goes back as `output` frames. Output is taken once the socket has handed it to the
// kernel: a client whose stdout is slow stops reading the socket, so the terminal's credit window
// stops the agent, and this process holds at most a window of output, not the whole stream.

import type { Socket } from 'node:net';
import type { LocalTerminal, LocalTerminalEvents } from '../../../capabilities/terminal/local-terminal.ts';
import { BYTES_PIECE, encodeBytesFrame, type ClientMessage, type ServerMessage } from './protocol.ts';

type Invoke = Extract<ClientMessage, { type: 'invoke' }>;
type TerminalMessage = Extract<ClientMessage, { type: 'stdin' | 'eof' | 'resize' }>;

/** Terminal sessions running through this control process, for `connect --status`. */
export const relayedSessions = new Set<{ host: string; session: string }>();

/** A relay for one invocation: `terminal` for its scope, `deliver` for the client's stdin, eof and resize messages. */
export function createTerminalRelay(
  invoke: Invoke,
  socket: Socket,
  send: (m: ServerMessage) => void,
  gone: AbortSignal,
): { terminal: LocalTerminal; deliver(m: TerminalMessage): void } {
  const interactive = invoke.stdinTty === true;
  let size = { cols: invoke.cols ?? 80, rows: invoke.rows ?? 24 };
  let on: LocalTerminalEvents | undefined;
  let rawOn = false;
  let listed: { host: string; session: string } | undefined;
  const terminal: LocalTerminal = {
    interactive,
    size: () => size,
    start: (events) => (on = events),
    // Any `terminal` message starts the client's stdin; `raw` sets its mode (a pipe stays as it is).
    raw: (raw) => {
      rawOn = raw && interactive;
      send({ type: 'terminal', raw: rawOn });
    },
    write(bytes, taken) {
      if (socket.destroyed || !socket.writable) return queueMicrotask(taken);
      for (let i = 0; i < bytes.length; i += BYTES_PIECE) {
        const last = i + BYTES_PIECE >= bytes.length;
        const frame = encodeBytesFrame('output', bytes.subarray(i, i + BYTES_PIECE));
        // Called with an error too when the socket is destroyed first, so the session never waits on a client gone.
        socket.write(frame, last ? () => taken() : undefined);
      }
      if (!bytes.length) queueMicrotask(taken);
    },
    opened(host, session) {
      if (listed) relayedSessions.delete(listed);
      listed = { host, session };
      relayedSessions.add(listed);
      send({ type: 'session', host, session });
    },
    stop() {
      on = undefined;
      if (listed) relayedSessions.delete(listed);
      if (rawOn) terminal.raw(false);
    },
    gone,
  };
  return {
    terminal,
    deliver(m) {
      if (m.type === 'resize') {
        size = { cols: m.cols, rows: m.rows };
        on?.resize();
      } else if (m.type === 'eof') on?.end();
      else on?.input(Buffer.from(m.data, 'base64'));
    },
  };
}
