// flotilla push: a file to many hosts, checksummed, with progress.

import { open, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { hashSource, newTaskId, pushToHost, type PushSource } from '../../shared/controller/operations.ts';
import { runPipeline } from '../../shared/controller/task-pipeline.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet, selectTargets } from '../../cli/src/fleet.ts';
import { createProgress } from '../../cli/src/output.ts';
import { pipelineOptions, printReport } from '../../cli/src/report.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { queueOptions, queueUnreachable, recordHistory } from '../../cli/src/run-store.ts';
import { toBase64 } from '../../shared/wire/encoding.ts';

/** Largest file a queued push carries inside its task record (the store keeps records up to 256 KiB). */
export const QUEUED_PUSH_MAX = 128 * 1024;

async function fileSource(path: string, modeText: string | undefined): Promise<PushSource & { close(): Promise<void> }> {
  const info = await stat(path).catch(() => {
    throw new FlotillaError('file-error', `cannot read ${path}`);
  });
  if (!info.isFile()) throw new FlotillaError('file-error', `${path} is not a regular file`);
  const handle = await open(path, 'r');
  const read = async (offset: number, length: number) => {
    const buffer = new Uint8Array(length);
    const { bytesRead } = await handle.read(buffer, 0, length, offset);
    return buffer.subarray(0, bytesRead);
  };
  const mode = modeText === undefined ? info.mode & 0o777 : parseInt(modeText, 8);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
    throw new FlotillaError('usage', `--mode ${modeText} is not an octal mode: write it like --mode 0644`);
  return { size: info.size, mode, sha256: await hashSource(info.size, read), read, close: () => handle.close() };
}

async function pushCommand(ctx: CommandContext): Promise<number> {
  const [selector, local, remote] = ctx.args;
  if (!selector || !local || !remote)
    throw new FlotillaError(
      'usage',
      "flotilla push needs a selector, a local file and a remote path, as in: flotilla push 'web-*' ./app.conf /etc/app/ [--mode 0644]",
    );
  const queueing = queueOptions(ctx);
  const startedAt = Date.now();
  const source = await fileSource(resolve(ctx.cwd, local), ctx.flags.mode);
  if (queueing && source.size > QUEUED_PUSH_MAX) {
    await source.close();
    throw new FlotillaError('usage', `--queue carries the file in the store: ${local} has ${source.size} bytes, at most ${QUEUED_PUSH_MAX} can be queued`);
  }
  const target = remote.endsWith('/') ? remote + basename(local) : remote;
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  try {
    const { names, targets } = await selectTargets(fleet, selector).catch((error: unknown) => {
      // A tag window is left for hosts that may not have enrolled yet.
      if (queueing?.window && error instanceof FlotillaError && error.code === 'no-match') return { names: new Map<string, string>(), targets: [] };
      throw error;
    });
    const task = ctx.flags.task ?? newTaskId();
    const sent = new Map<string, number>();
    const online = targets.filter((t) => t.online).length;
    const progress = createProgress(source.size * online, `push ${basename(local)} → ${online} host(s)`);
    const { results, stopped } = await runPipeline(
      fleet.controller,
      targets,
      (id) =>
        pushToHost(
          fleet.controller,
          id,
          task,
          target,
          source,
          (bytes) => {
            sent.set(id, bytes);
            progress.update([...sent.values()].reduce((a, b) => a + b, 0));
          },
          ctx.signal,
        ),
      pipelineOptions(ctx, names),
    );
    progress.done();
    const queued = queueing
      ? await queueUnreachable(
          ctx,
          home,
          queueing,
          {
            task,
            request: {
              type: 'push.begin',
              task,
              path: target,
              size: source.size,
              sha256: source.sha256,
              mode: source.mode,
              content: toBase64(await source.read(0, source.size)),
            },
            summary: target,
            selector,
          },
          results,
        )
      : undefined;
    const code = printReport(ctx, {
      task,
      selector,
      command: `push ${local} ${target}`,
      results: queued ? (queued.results as typeof results) : results,
      names,
      ...(stopped ? { stopped } : {}),
      detail: (r) => `${r.data?.path ?? target} ${(r.data?.sha256 ?? '').slice(0, 12)}`,
      ...(queued ? { queued: queued.deadlines } : {}),
    });
    await recordHistory(
      ctx,
      home,
      { task, command: 'push', summary: `${local} → ${target}`, selector, startedAt, results: queued?.results ?? results, names },
      queued?.state,
    );
    return code;
  } finally {
    await source.close();
    await fleet.close();
  }
}

/** The CLI commands of this capability (capabilities/push/spec.ts declares their usage and options). */
export const commands = { push: pushCommand };
