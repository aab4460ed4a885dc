// The last lines of a file, read backwards in blocks from its end (a 10 GB log costs a few
// blocks, not 10 GB), and a byte budget per second for following one.

import type { FileHandle } from 'node:fs/promises';

const NEWLINE = 0x0a;

/** The tail of a file: where it starts and its bytes. */
export interface Tail {
  /** Offset of the first byte returned. */
  start: number;
  bytes: Uint8Array;
  /** Whole lines returned (a last line without its newline counts). */
  lines: number;
  /** Fewer lines than asked because the tail reached `maxBytes`. */
  cut: boolean;
  /** Bytes read from the file to find it (for tests: a few blocks, however large the file). */
  bytesRead: number;
}

/**
 * The last `n` lines of the first `size` bytes of `handle`, at most `maxBytes` (then the lines that
 * fit, from the first whole one). Reads blocks of `blockSize` backwards from `size`.
 */
export async function readTail(handle: Pick<FileHandle, 'read'>, size: number, n: number, maxBytes: number, blockSize = 64 * 1024): Promise<Tail> {
  if (size === 0 || n <= 0) return { start: size, bytes: new Uint8Array(0), lines: 0, cut: false, bytesRead: 0 };
  const blocks: Uint8Array[] = [];
  let bytesRead = 0;
  let position = size;
  // A newline ending the file ends the last line; it does not start another.
  let skipLast = true;
  let found = 0;
  // Fewer than n lines in the file: all of it. -1: stopped at maxBytes without n lines.
  let start = 0;
  search: while (position > 0) {
    const length = Math.min(blockSize, position);
    position -= length;
    const block = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead: got } = await handle.read(block, filled, length - filled, position + filled);
      if (got === 0) break;
      filled += got;
    }
    bytesRead += filled;
    blocks.unshift(block.subarray(0, filled));
    for (let i = filled - 1; i >= 0; i--) {
      if (block[i] !== NEWLINE) continue;
      if (skipLast && position + i === size - 1) continue;
      found++;
      if (found === n) {
        start = position + i + 1;
        break search;
      }
    }
    skipLast = false;
    if (size - position > maxBytes) {
      start = -1;
      break;
    }
  }
  const joined = concat(blocks);
  const base = size - joined.length;
  let cut = false;
  if (start < 0 || size - start > maxBytes) {
    // Too long for n lines: the whole lines within maxBytes of the end (or the end of one huge line).
    cut = true;
    const from = size - maxBytes;
    const newline = joined.indexOf(NEWLINE, from - 1 - base);
    start = newline < 0 || base + newline + 1 >= size ? from : base + newline + 1;
  }
  const bytes = joined.subarray(start - base);
  let lines = 0;
  for (const b of bytes) if (b === NEWLINE) lines++;
  if (bytes.length && bytes[bytes.length - 1] !== NEWLINE) lines++;
  return { start, bytes, lines, cut, bytesRead };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A token bucket of bytes: up to `bytesPerSecond` a second, bursts of one second's worth. */
export function createRateLimiter(bytesPerSecond: number, now: () => number = () => performance.now()) {
  let tokens = bytesPerSecond;
  let last = now();
  return {
    /** How many of `wanted` bytes may go now (those are taken from the budget). */
    take(wanted: number): number {
      const t = now();
      tokens = Math.min(bytesPerSecond, tokens + ((t - last) / 1000) * bytesPerSecond);
      last = t;
      const granted = Math.max(0, Math.min(wanted, Math.floor(tokens)));
      tokens -= granted;
      return granted;
    },
  };
}

/** Index just after the first newline at or after `from` in `bytes` (or `bytes.length`). */
export function nextLineStart(bytes: Uint8Array, from: number): number {
  const at = bytes.indexOf(NEWLINE, from);
  return at < 0 ? bytes.length : at + 1;
}
