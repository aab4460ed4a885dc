// jobs, agent side: what the job manager (agent/src/jobs/manager.ts) installed, the runs its job
// journal keeps, and invoking an installed job now. Parameters are checked and quoted against the
// definition installed here, before anything runs.
import { FlotillaError } from '../../shared/wire/errors.ts';
import { currentJobs } from '../../agent/src/jobs/current.ts';
import { fitRuns } from '../../agent/src/jobs/fit-runs.ts';
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const jobs = currentJobs();
  if (!jobs) throw new FlotillaError('unsupported', 'this agent runs no jobs yet (it is not accepted into the fleet, or it is starting)');
  const { manager } = jobs;
  if (request.action === 'list') return { status: 'ok', data: { action: 'list', jobs: manager.list() } };
  if (request.action === 'runs') return { status: 'ok', data: { action: 'runs', runs: fitRuns(manager.runs(request.job, request.limit, request.since)) } };
  if (!manager.isInstalled(request.job)) await jobs.refresh(); // saved a moment ago: read the store once more
  if (!manager.isInstalled(request.job)) throw new FlotillaError('not-found', `job ${request.job} is not installed on this host`);
  const { started, ended } = await manager.invoke(request.job, request.params, {
    ...(request.invocation ? { invocation: request.invocation } : {}),
    by: ctx.device.name,
  });
  if (!request.wait || started.status === 'skipped') return { status: 'ok', data: { action: 'invoke', run: fitRuns([started])[0]! } };
  // An invoke that waits ends with its run, or with the request (the run goes on).
  const aborted = new Promise<never>((_, reject) =>
    ctx.signal.addEventListener('abort', () => reject(new FlotillaError('cancelled', `run ${started.id} goes on without this request`)), { once: true }),
  );
  return { status: 'ok', data: { action: 'invoke', run: fitRuns([await Promise.race([ended, aborted])])[0]! } };
};
