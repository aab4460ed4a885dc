// journal: hands back recorded runs, so a controller that was away collects what it missed.
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

const MAX_ENTRIES = 200;

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const entries = ctx.journal
    .list({ ...(request.tasks ? { tasks: request.tasks } : {}), ...(request.since === undefined ? {} : { since: request.since }) })
    .slice(-MAX_ENTRIES)
    .map(({ pid: _pid, ...entry }) => entry);
  return { status: 'ok', data: { entries } };
};
