// Loads a capability's agent handler (capabilities/<name>/agent.ts) the first time a request
// needs it: an agent that never lists processes never loads that code, which keeps idle memory
// down. The bundler includes every capabilities/*/agent.ts the pattern matches.

import { FlotillaError } from '../../shared/wire/errors.ts';
import type { AnySpec } from '../../capabilities/spec.ts';
import type { Handler } from './task-context.ts';

const loaded = new Map<string, Promise<Handler<AnySpec>>>();

async function load(name: string): Promise<Handler<AnySpec>> {
  const module: unknown = await import(`../../capabilities/${name}/agent.ts`);
  const handler = (module as { handler?: unknown } | null)?.handler;
  if (typeof handler !== 'function') throw new FlotillaError('internal', `capabilities/${name}/agent.ts exports no handler`);
  return handler as Handler<AnySpec>;
}

/** The handler of a capability (loaded once). */
export function handlerOf(spec: AnySpec): Promise<Handler<AnySpec>> {
  let handler = loaded.get(spec.name);
  if (!handler) {
    handler = load(spec.name);
    loaded.set(spec.name, handler);
    handler.catch(() => loaded.delete(spec.name));
  }
  return handler;
}
