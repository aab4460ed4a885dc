// fetch: streams a file back in chunks with its size, mode and sha256.

import { open, stat } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { createSha256 } from '../../shared/wire/sha256-stream.ts';
import { confinePath } from '../../agent/src/policy.ts';
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

const CHUNK = 256 * 1024;

/** The refusal of a path that is not a regular file, naming what it is. */
function notRegular(path: string, info: Stats): FlotillaError {
  const kind = info.isFIFO()
    ? 'a FIFO (named pipe)'
    : info.isDirectory()
      ? 'a directory'
      : info.isSocket()
        ? 'a socket'
        : info.isCharacterDevice()
          ? 'a character device'
          : info.isBlockDevice()
            ? 'a block device'
            : 'not a regular file';
  return new FlotillaError('file-error', `${path} is ${kind}; fetch reads regular files only`);
}

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const startedAt = Date.now();
  const path = await confinePath(request.path, ctx.config.allowedRoots, 'read');
  // Checked before the open, and opened without blocking: opening a FIFO for reading waits for
  // a writer, and it waited in libuv's thread pool, which four such fetches filled, stalling
  // every file and crypto call of the agent (its handshakes too).
  const before = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new FlotillaError('file-error', `${path}: ${error.code ?? error.message}`);
  });
  if (!before.isFile()) throw notRegular(path, before);
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch((error: NodeJS.ErrnoException) => {
    throw new FlotillaError('file-error', `${path}: ${error.code ?? error.message}`);
  });
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notRegular(path, info); // replaced between the check and the open
    await ctx.send({ type: 'progress', id: request.id, bytes: 0, total: info.size });
    const hash = createSha256();
    const buffer = new Uint8Array(CHUNK);
    let offset = 0;
    for (;;) {
      if (ctx.signal.aborted) throw new FlotillaError('cancelled');
      if (ctx.session.closed) throw new FlotillaError('channel-closed', 'the controller went away mid-transfer');
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, offset);
      if (bytesRead === 0) break;
      const piece = buffer.slice(0, bytesRead);
      hash.update(piece);
      await ctx.session.send({ type: 'fetch.chunk', id: request.id, offset }, piece);
      offset += bytesRead;
    }
    return { status: 'ok', startedAt, durationMs: Date.now() - startedAt, data: { path, size: offset, sha256: hash.hex(), mode: info.mode & 0o7777 } };
  } finally {
    await handle.close();
  }
};
