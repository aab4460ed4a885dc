// ping: the agent answers at once, so a controller can measure the round trip.
import { defineCapability } from '../spec.ts';
import { int } from '../../shared/wire/validate.ts';

export const spec = defineCapability({
  name: 'ping',
  doc: 'round trip to the agent through the secure session',
  request: { type: 'ping', parse: () => ({}) },
  result: (d) => ({ t: int(d, 't') }),
  role: 'viewer',
  cli: [{ name: 'ping', usage: ['ping <selector>', 'round trip and connection path per host'], warm: true }],
});
