// logs: the tail of a confined regular file or of a unit's journal as output events, then (with
// follow) new lines as they come until the controller cancels or goes away.

import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { confinePath } from '../../agent/src/policy.ts';
import type { Handler, TaskContext } from '../../agent/src/task-context.ts';
import { followFile, openRegular } from './follow.ts';
import { createRateLimiter, readTail } from './tail.ts';
import { DEFAULT_LINES, FOLLOW_BYTES_PER_SECOND, MAX_TAIL_BYTES, parseSource, type spec } from './spec.ts';

const CHUNK = 64 * 1024;
const SYSTEMD_RUNTIME = '/run/systemd/system';

/** Sends bytes as stdout output events of at most CHUNK bytes. */
async function emit(ctx: TaskContext, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length; at += CHUNK) await ctx.output('stdout', bytes.subarray(at, at + CHUNK));
}

/** A line for the reader beside the log (stderr), prefixed so it is never taken for the log's own. */
function notice(ctx: TaskContext, text: string): Promise<void> {
  return ctx.output('stderr', new TextEncoder().encode(`flotilla: ${text}\n`));
}

interface Counts {
  lines: number;
  bytes: number;
  cut: boolean;
  droppedBytes: number;
  truncations: number;
  rotations: number;
}

async function fileLogs(path: string, lines: number, follow: boolean, ctx: TaskContext): Promise<Counts> {
  const roots = ctx.config.allowedRoots;
  const confined = await confinePath(path, roots, 'read');
  const handle = await openRegular(confined);
  let following = false;
  try {
    const size = (await handle.stat()).size;
    const tail = await readTail(handle, size, lines, MAX_TAIL_BYTES);
    await emit(ctx, tail.bytes);
    const counts: Counts = { lines: tail.lines, bytes: tail.bytes.length, cut: tail.cut, droppedBytes: 0, truncations: 0, rotations: 0 };
    if (tail.cut) await notice(ctx, `only the last ${tail.lines} lines fit in ${MAX_TAIL_BYTES / 1048576} MiB`);
    if (!follow) return counts;
    following = true;
    const stats = await followFile({
      path: confined,
      handle,
      from: size,
      signal: ctx.signal,
      stopped: () => ctx.session.closed,
      emit: (bytes) => emit(ctx, bytes),
      notice: (text) => notice(ctx, text),
      // The new file is confined and checked again: a rotation must not lead outside the roots.
      reopen: async () => {
        const again = await confinePath(path, roots, 'read');
        return stat(again).then(
          () => openRegular(again),
          () => undefined,
        );
      },
      bytesPerSecond: FOLLOW_BYTES_PER_SECOND,
    });
    return { ...counts, bytes: counts.bytes + stats.bytes, droppedBytes: stats.dropped, truncations: stats.truncations, rotations: stats.rotations };
  } finally {
    if (!following) await handle.close();
  }
}

/** `journalctl -u UNIT -n N [-f] --no-pager`, its stdout streamed (within the budget when following). */
async function journalLogs(unit: string, lines: number, follow: boolean, ctx: TaskContext): Promise<Counts> {
  const booted = await stat(SYSTEMD_RUNTIME).then(
    (info) => info.isDirectory(),
    () => false,
  );
  if (!booted)
    throw new FlotillaError('unsupported', `this host does not run systemd (no ${SYSTEMD_RUNTIME}), so it has no unit journals; give a file path instead`);
  const args = ['-u', unit, '-n', String(lines), '--no-pager', ...(follow ? ['-f'] : []), '--'];
  const child = spawn('journalctl', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' } });
  const limiter = createRateLimiter(FOLLOW_BYTES_PER_SECOND);
  const counts: Counts = { lines: 0, bytes: 0, cut: false, droppedBytes: 0, truncations: 0, rotations: 0 };
  let stderr = '';
  let sending = Promise.resolve();
  child.stdout.on('data', (chunk: Buffer) => {
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    const allowed = follow ? limiter.take(bytes.length) : bytes.length;
    if (allowed < bytes.length) counts.droppedBytes += bytes.length - allowed;
    if (!follow) for (const b of bytes) if (b === 0x0a) counts.lines++;
    counts.bytes += allowed;
    const part = bytes.slice(0, allowed);
    const dropped = bytes.length - allowed;
    child.stdout.pause();
    sending = sending
      .then(() => (part.length ? emit(ctx, part) : undefined))
      .then(() => (dropped ? notice(ctx, `${dropped} bytes dropped: the journal grew faster than ${FOLLOW_BYTES_PER_SECOND / 1024} KiB/s`) : undefined))
      .finally(() => child.stdout.resume());
  });
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString();
  });
  const stop = () => child.kill('SIGTERM');
  ctx.signal.addEventListener('abort', stop, { once: true });
  const closed = setInterval(() => ctx.session.closed && stop(), 1000);
  try {
    const exit = await new Promise<number | null>((resolve, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new FlotillaError('unsupported', 'journalctl is not installed on this host')
            : new FlotillaError('file-error', `journalctl: ${error.message}`),
        ),
      );
      child.once('close', (code) => resolve(code));
    });
    await sending;
    if (exit !== 0 && !ctx.signal.aborted) throw new FlotillaError('file-error', `journalctl -u ${unit} exited ${exit}: ${stderr.trim().split('\n')[0] ?? ''}`);
    return counts;
  } finally {
    clearInterval(closed);
    ctx.signal.removeEventListener('abort', stop);
  }
}

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const startedAt = Date.now();
  const source = parseSource(request.source);
  const lines = request.lines ?? DEFAULT_LINES;
  const follow = request.follow ?? false;
  const counts = source.kind === 'file' ? await fileLogs(source.path, lines, follow, ctx) : await journalLogs(source.unit, lines, follow, ctx);
  // A follow ends when the controller cancels it: that is its normal end, so the result is ok.
  if (!follow && ctx.signal.aborted) throw new FlotillaError('cancelled');
  return {
    status: 'ok',
    startedAt,
    durationMs: Date.now() - startedAt,
    data: { source: request.source, follow, ...counts, lines: Math.min(counts.lines, lines) },
  };
};
