// recordings on the agent: not built yet (the wire protocol comes first, see spec.ts).
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

export const handler: Handler<typeof spec> = () => Promise.reject(new FlotillaError('unsupported', 'this agent does not serve recordings yet'));
