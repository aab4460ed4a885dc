// Following a file like `tail -F`: new bytes as they are appended, from the start again after a
// truncation, and the new file after a rotation (the name now names another file), within a
// byte budget per second; what the budget cannot carry is dropped and counted.

import { open, stat, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { createRateLimiter, nextLineStart } from './tail.ts';

const CHUNK = 64 * 1024;

/** What a follow counted. */
export interface FollowStats {
  /** Bytes handed on. */
  bytes: number;
  /** Bytes skipped because they came faster than the budget. */
  dropped: number;
  truncations: number;
  rotations: number;
}

export interface FollowOptions {
  /** The (confined) path; re-opened by `reopen` after a rotation. */
  path: string;
  handle: FileHandle;
  /** Offset to follow from (the end of the tail already sent). */
  from: number;
  signal: AbortSignal;
  /** Hands on bytes of the file; resolves when they are taken (back-pressure). */
  emit(bytes: Uint8Array): Promise<void>;
  /** One line for the reader about what happened (truncated, rotated, dropped). */
  notice(text: string): Promise<void>;
  /** Opens the file again after a rotation, checked like the first time; undefined while it is missing. */
  reopen(): Promise<FileHandle | undefined>;
  bytesPerSecond: number;
  pollMs?: number;
  /** Also stops the follow when it turns true (the controller went away). */
  stopped?: () => boolean;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Opens a regular file for reading without blocking on a FIFO; refuses anything else. */
export async function openRegular(path: string): Promise<FileHandle> {
  const before = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new FlotillaError('not-found', `no file ${path} on this host`);
    throw new FlotillaError('file-error', `${path}: ${error.code ?? error.message}`);
  });
  if (!before.isFile()) throw new FlotillaError('file-error', `${path} is not a regular file (devices, FIFOs, sockets and directories are refused)`);
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((error: NodeJS.ErrnoException) => {
    throw new FlotillaError('file-error', `${path}: ${error.code ?? error.message}`);
  });
  // It may have been replaced between the check and the open.
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw new FlotillaError('file-error', `${path} is not a regular file`);
  }
  return handle;
}

/** Follows until `signal` aborts (or `stopped()`); returns what it counted. Closes the handle it ends with. */
export async function followFile(options: FollowOptions): Promise<FollowStats> {
  const stats: FollowStats = { bytes: 0, dropped: 0, truncations: 0, rotations: 0 };
  const limiter = createRateLimiter(options.bytesPerSecond);
  const pollMs = options.pollMs ?? 250;
  let handle = options.handle;
  let position = options.from;
  let identity = await handle.stat();
  const done = () => options.signal.aborted || (options.stopped?.() ?? false);

  /** Sends [from, to) of the current file within the budget; returns the new position. */
  async function pump(from: number, to: number): Promise<number> {
    let start = from;
    const allowed = limiter.take(to - from);
    if (allowed < to - from) {
      // Keep the newest bytes, from the first whole line among them.
      let skip = to - from - allowed;
      if (allowed > 0) {
        const window = new Uint8Array(allowed);
        const { bytesRead } = await handle.read(window, 0, allowed, from + skip);
        const lineStart = nextLineStart(window.subarray(0, bytesRead), 0);
        skip += lineStart < bytesRead ? lineStart : allowed;
      } else skip = to - from;
      stats.dropped += skip;
      start = from + skip;
      await options.notice(`${skip} bytes dropped: the file grew faster than ${Math.round(options.bytesPerSecond / 1024)} KiB/s`);
    }
    const buffer = new Uint8Array(CHUNK);
    while (start < to && !done()) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, to - start), start);
      if (bytesRead === 0) break;
      await options.emit(buffer.slice(0, bytesRead));
      stats.bytes += bytesRead;
      start += bytesRead;
    }
    return to;
  }

  try {
    while (!done()) {
      const info = await handle.stat();
      if (info.size < position) {
        stats.truncations++;
        position = 0;
        await options.notice('the file was truncated; following it from its start');
      }
      if (info.size > position) position = await pump(position, info.size);
      // Rotation: the name now names another file. Finish the old one, then follow the new one.
      const named = await stat(options.path).catch(() => undefined);
      if (named && (named.ino !== identity.ino || named.dev !== identity.dev)) {
        const last = await handle.stat();
        if (last.size > position) await pump(position, last.size);
        const next = await options.reopen();
        if (next) {
          await handle.close();
          handle = next;
          identity = await handle.stat();
          position = 0;
          stats.rotations++;
          await options.notice('the file was rotated; following the new file');
          continue;
        }
      }
      await sleep(pollMs, options.signal);
    }
  } finally {
    await handle.close();
  }
  return stats;
}
