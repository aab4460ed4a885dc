// The thin client's side of a warm `flotilla shell`: when the control process's shell asks for
// the terminal (`terminal`), stdin is forwarded (stdin, eof) with the window size on SIGWINCH
// (resize), raw mode follows `raw`, and `output` goes to stdout as bytes. The escape `~.` is the
// control process's to see (the shell session there scans input as the direct CLI does), so
// the client has no state of its own beyond the terminal's mode, restored on every way out.

import type { Socket } from 'node:net';
import { BYTES_PIECE, encodeBytesFrame, encodeFrame, type ClientMessage, type ServerMessage } from './protocol.ts';

const clamp = (n: number | undefined, fallback: number) => Math.min(1000, Math.max(1, n || fallback));

/** The size of the client's terminal, for `invoke` and `resize`. */
export function terminalSize(): { cols: number; rows: number } {
  return { cols: clamp(process.stdout.columns, 80), rows: clamp(process.stdout.rows, 24) };
}

/** Relays this process's terminal for one forwarded invocation over `socket`. */
export function createClientTerminal(socket: Socket) {
  const { stdin, stdout } = process;
  let forwarding = false;
  let rawOn = false;
  let session: { host: string; session: string } | undefined;
  const sendFrame = (m: ClientMessage) => socket.destroyed || socket.write(encodeFrame(m));
  const onData = (chunk: Buffer) => {
    let behind = false;
    for (let i = 0; i < chunk.length && !socket.destroyed; i += BYTES_PIECE)
      behind = !socket.write(encodeBytesFrame('stdin', chunk.subarray(i, i + BYTES_PIECE)));
    // A control process that reads slowly holds piped input back here, in the pipe, not in memory.
    if (behind && !stdin.isPaused()) {
      stdin.pause();
      socket.once('drain', () => forwarding && stdin.resume());
    }
  };
  const onEnd = () => sendFrame({ type: 'eof' });
  const onResize = () => sendFrame({ type: 'resize', ...terminalSize() });
  const setRaw = (on: boolean) => {
    if (!stdin.isTTY || rawOn === on) return;
    stdin.setRawMode(on);
    rawOn = on;
    if (on) process.once('exit', restore);
    else process.off('exit', restore);
  };
  function restore(): void {
    setRaw(false);
    if (!forwarding) return;
    forwarding = false;
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdout.off('resize', onResize);
    stdin.pause();
  }
  return {
    /** Handles `terminal`, `output` and `session`; false for any other message. */
    handle(m: ServerMessage): boolean {
      if (m.type === 'terminal') {
        setRaw(m.raw);
        if (!forwarding) {
          forwarding = true;
          stdin.on('data', onData);
          stdin.on('end', onEnd);
          stdout.on('resize', onResize);
          stdin.resume();
        }
      } else if (m.type === 'output') {
        // A terminal or pipe that is behind stops the socket, so the control process stops acknowledging and the agent waits.
        if (!stdout.write(Buffer.from(m.data, 'base64')) && !socket.isPaused()) {
          socket.pause();
          stdout.once('drain', () => socket.resume());
        }
      } else if (m.type === 'session') session = { host: m.host, session: m.session };
      else return false;
      return true;
    },
    /** Whether the terminal is in raw mode now. */
    raw: () => rawOn,
    /** The shell's session, once open. */
    session: () => session,
    /** Raw mode off, stdin no longer read. */
    restore,
  };
}
