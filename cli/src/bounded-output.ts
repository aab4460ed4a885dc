// Command output in bounded memory: stdout writes that wait for the terminal or pipe to drain
// (and so, through execOnHost's acknowledgements, hold back the agent and the command), a line
// printer that never keeps more than one line piece per host, and --json collection capped per
// host and stream with the truncation recorded.

import { currentScope } from './control/scope.ts';

/** Longest piece of a line the printer keeps; a longer line is printed in pieces of this size. */
export const LINE_PIECE_BYTES = 64 * 1024;
/** Output kept per host and stream for --json; the rest is counted, not kept. */
export const JSON_OUTPUT_CAP = 4 * 1024 * 1024;

type Stream = 'stdout' | 'stderr';

/**
 * Wraps a write to stdout (ctx.write) so that it resolves once stdout can take more: at once
 * while its buffer is below the high-water mark, else at its next `drain` (or when it fails or
 * closes: a reader that went away must not hang the command). In a control process, once the
 * client's socket has drained.
 */
export function drainingWriter(write: (text: string) => void, out: NodeJS.WriteStream = process.stdout): (text: string) => Promise<void> {
  let waiting: Promise<void> | undefined;
  // Taken now: output arrives in callbacks of a connection the control process may have opened
  // for another invocation, where currentScope() is that one's (or none).
  const scope = currentScope();
  return (text) => {
    write(text);
    if (scope) return scope.drained();
    if (!out.writableNeedDrain || out.destroyed) return waiting ?? Promise.resolve();
    waiting ??= new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done);
        out.off('error', done);
        out.off('close', done);
        waiting = undefined;
        resolve();
      };
      out.on('drain', done);
      out.on('error', done);
      out.on('close', done);
    });
    return waiting;
  };
}

/**
 * Splits each host's stream into lines and prints them with `prefix(host, stream)`. A partial
 * line is kept up to LINE_PIECE_BYTES; beyond that the piece is printed as a line of its own and
 * the rest of the line follows on the next. `write` resolves when the text was taken (see
 * drainingWriter); so does each call.
 */
export function createBoundedLinePrinter(
  write: (text: string) => void | Promise<void>,
  prefix: (host: string, stream: Stream) => string,
  pieceBytes = LINE_PIECE_BYTES,
) {
  const partial = new Map<string, { chunks: Uint8Array[]; size: number; decoder: TextDecoder }>();
  /** The held line (or piece) as a printed line; the caller writes what one call printed at once. */
  const line = (host: string, stream: Stream, held: { chunks: Uint8Array[]; decoder: TextDecoder }): string => {
    // Pieces of a long line are cut at a byte count: the decoder keeps a character cut in two
    // for the next piece.
    let text = '';
    for (const c of held.chunks) text += held.decoder.decode(c, { stream: true });
    held.chunks = [];
    return prefix(host, stream) + text + '\n';
  };
  const writeAll = (lines: string[]) => (lines.length ? Promise.resolve(write(lines.join(''))) : Promise.resolve());
  return {
    write(host: string, stream: Stream, bytes: Uint8Array): Promise<void> {
      const key = `${host}\0${stream}`;
      let held = partial.get(key);
      if (!held) partial.set(key, (held = { chunks: [], size: 0, decoder: new TextDecoder() }));
      const lines: string[] = [];
      let start = 0;
      for (;;) {
        const nl = bytes.indexOf(10, start);
        const end = nl < 0 ? bytes.length : nl;
        // Whole pieces of an overlong line go out as they fill.
        while (held.size + (end - start) >= pieceBytes) {
          const take = pieceBytes - held.size;
          held.chunks.push(bytes.subarray(start, start + take));
          lines.push(line(host, stream, held));
          held.size = 0;
          start += take;
        }
        if (nl < 0) break;
        held.chunks.push(bytes.subarray(start, nl));
        lines.push(line(host, stream, held));
        held.size = 0;
        start = nl + 1;
      }
      if (start < bytes.length) {
        held.chunks.push(bytes.slice(start)); // a copy: the body's buffer belongs to the session
        held.size += bytes.length - start;
      }
      return writeAll(lines);
    },
    /** Prints what is left of a host's lines (its command ended without a final newline). */
    flush(host: string): Promise<void> {
      const lines: string[] = [];
      for (const stream of ['stdout', 'stderr'] as const) {
        const key = `${host}\0${stream}`;
        const held = partial.get(key);
        if (held && held.size > 0) lines.push(line(host, stream, held));
        partial.delete(key);
      }
      return writeAll(lines);
    },
  };
}

/** One host's collected output for --json. */
export interface CollectedOutput {
  stdout: string;
  stderr: string;
  /** Bytes the command printed on each stream, kept or not. */
  stdoutBytes: number;
  stderrBytes: number;
  /** True when some output was not kept (over JSON_OUTPUT_CAP on a stream). */
  truncated: boolean;
}

/** Exit status of a --json run whose hosts all succeeded but some output was not kept. */
export const TRUNCATED_STATUS = 3;

/** A host's output fields in `run --json`: the kept text, the byte counts, and whether some was dropped. */
export function jsonOutputFields(o: CollectedOutput) {
  return { stdout: o.stdout, stderr: o.stderr, stdoutBytes: o.stdoutBytes, stderrBytes: o.stderrBytes, truncated: o.truncated };
}

/** The line run --json prints on stderr when some hosts' output was cut, or undefined. */
export function truncationNotice(hosts: string[], cap = JSON_OUTPUT_CAP): string | undefined {
  if (hosts.length === 0) return undefined;
  return `warning: --json keeps the first ${cap / 1048576} MiB of each stream per host; the output of ${hosts.join(', ')} was cut ("truncated": true, exit status ${TRUNCATED_STATUS})`;
}

/** Collects each host's output up to `cap` bytes per stream; counts the rest. */
export function createOutputCollector(cap = JSON_OUTPUT_CAP) {
  const hosts = new Map<string, Record<Stream, { text: string; bytes: number; decoder: TextDecoder }>>();
  return {
    add(host: string, stream: Stream, bytes: Uint8Array): void {
      let h = hosts.get(host);
      if (!h) hosts.set(host, (h = { stdout: { text: '', bytes: 0, decoder: new TextDecoder() }, stderr: { text: '', bytes: 0, decoder: new TextDecoder() } }));
      const s = h[stream];
      const room = Math.max(0, cap - s.bytes);
      // A multi-byte character cut at the cap stays in the decoder and is dropped.
      if (room > 0) s.text += s.decoder.decode(bytes.length > room ? bytes.subarray(0, room) : bytes, { stream: true });
      s.bytes += bytes.length;
    },
    get(host: string): CollectedOutput {
      const h = hosts.get(host);
      if (!h) return { stdout: '', stderr: '', stdoutBytes: 0, stderrBytes: 0, truncated: false };
      const tail = (s: { text: string; bytes: number; decoder: TextDecoder }) => (s.bytes <= cap ? (s.text += s.decoder.decode()) : s.text);
      return {
        stdout: tail(h.stdout),
        stderr: tail(h.stderr),
        stdoutBytes: h.stdout.bytes,
        stderrBytes: h.stderr.bytes,
        truncated: h.stdout.bytes > cap || h.stderr.bytes > cap,
      };
    },
  };
}
