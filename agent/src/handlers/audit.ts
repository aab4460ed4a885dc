// audit: devices can read the agent's audit log (newest last).
import type { Handler } from './context.ts';

export const auditHandler: Handler<'audit'> = async (request, ctx) => ({
  status: 'ok',
  data: { records: await ctx.audit.tail(request.limit ?? 100) },
});
