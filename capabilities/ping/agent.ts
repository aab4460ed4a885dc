// ping: answers at once, so the controller can measure the round trip.
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

export const handler: Handler<typeof spec> = async () => ({ status: 'ok', data: { t: Date.now() } });
