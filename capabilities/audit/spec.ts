// audit: devices read the agent's append-only audit log (newest last).
import { defineCapability } from '../spec.ts';
import { isObj, optInt, optional } from '../../shared/wire/validate.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';

export const spec = defineCapability({
  name: 'audit',
  doc: "the newest records of the agent's audit log (who asked for what, accepted or refused)",
  request: { type: 'audit', parse: (o) => ({ ...optional('limit', optInt(o, 'limit', 1, 10_000)) }) },
  result: (d) => {
    const records = d['records'];
    if (!Array.isArray(records) || records.length > 10_000) throw new FlotillaError('bad-message', 'records: expected a list');
    return { records: records.filter(isObj) as readonly object[] };
  },
  role: 'viewer',
});
