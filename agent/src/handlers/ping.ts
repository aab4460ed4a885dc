// ping: answers at once, so the controller can measure the round trip.
import type { Handler } from './context.ts';

export const pingHandler: Handler<'ping'> = async () => ({ status: 'ok', data: { t: Date.now() } });
