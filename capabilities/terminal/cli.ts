// flotilla shell: not built yet (the wire protocol comes first, see spec.ts).
import { FlotillaError } from '../../shared/wire/errors.ts';

export const commands = {
  shell: (): Promise<number> => Promise.reject(new FlotillaError('unsupported', 'flotilla shell is not built yet')),
};
