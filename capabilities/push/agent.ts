// push: receives a file in chunks into a temporary file beside the target, checks size and
// sha256, sets the mode, and renames it into place atomically.

import { mkdir, open, rename, unlink, chmod, type FileHandle } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { createSha256 } from '../../shared/wire/sha256-stream.ts';
import { confinePath } from '../../agent/src/policy.ts';
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

const PROGRESS_EVERY = 1024 * 1024;

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const startedAt = Date.now();
  if (request.size > ctx.config.maxPushBytes) {
    throw new FlotillaError('too-large', `${request.size} bytes is over this agent's limit of ${ctx.config.maxPushBytes}`);
  }
  const target = await confinePath(request.path, ctx.config.allowedRoots, 'write');
  await mkdir(dirname(target), { recursive: true });
  const temp = join(dirname(target), `.${basename(target)}.flotilla-${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined = await open(temp, 'wx', 0o600).catch((error: NodeJS.ErrnoException) => {
    throw new FlotillaError('file-error', `cannot create ${temp}: ${error.code ?? error.message}`);
  });
  const hash = createSha256();
  let received = 0;
  let lastProgress = 0;
  let chain: Promise<void> = Promise.resolve();
  let failure: FlotillaError | undefined;

  const cleanup = async () => {
    await handle?.close().catch(() => undefined);
    handle = undefined;
    await unlink(temp).catch(() => undefined);
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (error: FlotillaError) => {
        failure ??= error;
        reject(failure);
      };
      ctx.signal.addEventListener('abort', () => fail(new FlotillaError('cancelled')));
      ctx.session.onClose(() => fail(new FlotillaError('channel-closed', 'the controller went away mid-transfer')));
      ctx.onFollowUp((message, body) => {
        if (failure) return;
        if (message.type === 'push.chunk') {
          if (message.offset !== received) return fail(new FlotillaError('bad-message', `chunk at ${message.offset}, expected ${received}`));
          if (received + body.length > request.size) return fail(new FlotillaError('checksum-mismatch', 'more bytes than announced'));
          received += body.length;
          const data = new Uint8Array(body);
          hash.update(data);
          chain = chain.then(async () => {
            await handle?.write(data);
          });
          chain.catch((error: unknown) => fail(new FlotillaError('file-error', (error as Error).message)));
          if (received - lastProgress >= PROGRESS_EVERY) {
            lastProgress = received;
            void ctx.send({ type: 'progress', id: request.id, bytes: received, total: request.size });
          }
        } else if (message.type === 'push.end') {
          chain.then(resolve, (error: unknown) => fail(new FlotillaError('file-error', (error as Error).message)));
        }
      });
    });
    if (received !== request.size) throw new FlotillaError('checksum-mismatch', `received ${received} of ${request.size} bytes`);
    const digest = hash.hex();
    if (digest !== request.sha256) throw new FlotillaError('checksum-mismatch', `sha256 ${digest.slice(0, 12)}…, expected ${request.sha256.slice(0, 12)}…`);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await chmod(temp, request.mode);
    await rename(temp, target);
    return { status: 'ok', startedAt, durationMs: Date.now() - startedAt, data: { path: target, size: received, sha256: digest, mode: request.mode } };
  } catch (error) {
    await cleanup();
    throw error;
  }
};
