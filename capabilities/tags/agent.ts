// tags.set: tags set from a controller, kept in the state directory beside configured tags.
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const next = request.replace ? { ...request.tags } : { ...ctx.state.remoteTags, ...request.tags };
  for (const [key, value] of Object.entries(next)) if (value === '') delete next[key];
  await ctx.state.saveRemoteTags(next);
  return { status: 'ok', data: { tags: { ...ctx.config.tags, ...next } } };
};
