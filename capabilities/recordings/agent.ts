// recordings on the agent: the .cast files under <state>/recordings (capabilities/terminal/
// recorder.ts), listed, or one streamed as recording.chunk events.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { Handler } from '../../agent/src/task-context.ts';
import { listRecordings, recordingsDir } from '../terminal/recorder.ts';
import type { spec } from './spec.ts';

const CHUNK = 64 * 1024;

export const handler: Handler<typeof spec> = async (request, ctx) => {
  if (request.action === 'list') return { status: 'ok', data: { kind: 'list', recordings: await listRecordings(ctx.config.stateDir) } };
  const path = join(recordingsDir(ctx.config.stateDir), `${request.recording}.cast`);
  const file = await open(path, 'r').catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    throw code === 'ENOENT'
      ? new FlotillaError('not-found', `no recording ${request.recording} on this host (list them with flotilla recordings <host>)`)
      : new FlotillaError('file-error', `${path}: ${code ?? String(error)}`);
  });
  try {
    // What the file holds now (a running session's recording grows meanwhile).
    const { size } = await file.stat();
    const buffer = Buffer.alloc(CHUNK);
    let offset = 0;
    while (offset < size) {
      if (ctx.signal.aborted) throw new FlotillaError('cancelled', 'stopped');
      const { bytesRead } = await file.read(buffer, 0, Math.min(CHUNK, size - offset), offset);
      if (bytesRead === 0) break;
      await ctx.send({ type: 'recording.chunk', id: request.id, offset }, new Uint8Array(buffer.subarray(0, bytesRead)));
      offset += bytesRead;
    }
    return { status: 'ok', data: { kind: 'get', recording: request.recording, size: offset } };
  } finally {
    await file.close();
  }
};
