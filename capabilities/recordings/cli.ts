// flotilla recordings: not built yet (the wire protocol comes first, see spec.ts).
import { FlotillaError } from '../../shared/wire/errors.ts';

export const commands = {
  recordings: (): Promise<number> => Promise.reject(new FlotillaError('unsupported', 'flotilla recordings is not built yet')),
};
