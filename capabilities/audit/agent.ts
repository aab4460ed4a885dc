// audit: devices can read the agent's audit log (newest last).
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

export const handler: Handler<typeof spec> = async (request, ctx) => ({
  status: 'ok',
  data: { records: await ctx.audit.tail(request.limit ?? 100) },
});
