// journal: hands back recorded runs, so a controller that was away collects what it missed.
// The answer is one result message, whose header is capped (MAX_HEADER_BYTES): entries are fitted
// into a budget (journal-fit.ts): output cut where needed (`truncated`), and entries that do not
// fit at all named in `omitted`, for the controller to ask again.
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';
import { fitEntries } from '../../agent/src/journal-fit.ts';

const MAX_ENTRIES = 200;

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const entries = ctx.journal
    .list({ ...(request.tasks ? { tasks: request.tasks } : {}), ...(request.since === undefined ? {} : { since: request.since }) })
    .slice(-MAX_ENTRIES)
    .map(({ pid: _pid, ...entry }) => entry);
  const fitted = fitEntries(entries);
  return { status: 'ok', data: { entries: fitted.entries, ...(fitted.omitted.length ? { omitted: fitted.omitted } : {}) } };
};
