// flotilla fetch: a file from many hosts, one per host under <local-dir>/<host>/, checksummed.

import { chmod, open, rename, rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { fetchFromHost, newTaskId } from '../../shared/controller/operations.ts';
import { runPipeline } from '../../shared/controller/task-pipeline.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet, selectTargets } from '../../cli/src/fleet.ts';
import { pipelineOptions, printReport } from '../../cli/src/report.ts';
import { fetchFolders } from '../../cli/src/fetch-dirs.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';

async function fetchCommand(ctx: CommandContext): Promise<number> {
  const [selector, remote, localDir] = ctx.args;
  if (!selector || !remote || !localDir)
    throw new FlotillaError(
      'usage',
      "flotilla fetch needs a selector, a remote path and a local folder, as in: flotilla fetch 'web-*' /etc/hostname ./fetched",
    );
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  try {
    const { names, targets } = await selectTargets(fleet, selector);
    const task = ctx.flags.task ?? newTaskId();
    const locals = new Map<string, string>();
    const folders = fetchFolders(resolve(ctx.cwd, localDir));
    const { results, stopped } = await runPipeline(
      fleet.controller,
      targets,
      async (id) => {
        const folder = await folders.hostFolder((names.get(id) ?? id).replace(/[^A-Za-z0-9._-]/g, '_'));
        const path = join(folder.dir, basename(remote));
        const handle = await open(path + '.part', 'w').catch(async (error: unknown) => {
          await folder.release(false);
          throw error;
        });
        try {
          const result = await fetchFromHost(
            fleet.controller,
            id,
            task,
            remote,
            async (offset, bytes) => {
              await handle.write(bytes, 0, bytes.length, offset);
            },
            undefined,
            ctx.signal,
          );
          await handle.close();
          if (result.status === 'ok') {
            await chmod(path + '.part', (result.data?.mode ?? 0o644) & 0o777);
            await rename(path + '.part', path);
            locals.set(id, path);
          }
          return result;
        } finally {
          await handle.close().catch(() => undefined);
          await rm(path + '.part', { force: true });
          await folder.release(locals.has(id)); // a failed fetch leaves no empty folder behind
        }
      },
      pipelineOptions(ctx, names),
    );
    await folders.finish();
    return printReport(ctx, {
      task,
      selector,
      command: `fetch ${remote} ${localDir}`,
      results,
      names,
      ...(stopped ? { stopped } : {}),
      detail: (r) => `${locals.get(r.hostId) ?? ''} (${r.data?.size ?? '?'} bytes)`,
      json: (r) => (locals.has(r.hostId) ? { local: locals.get(r.hostId) } : {}),
    });
  } finally {
    await fleet.close();
  }
}

/** The CLI commands of this capability (capabilities/fetch/spec.ts declares their usage and options). */
export const commands = { fetch: fetchCommand };
