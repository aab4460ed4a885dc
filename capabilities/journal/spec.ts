// journal: recorded runs, so a controller that was away collects what it missed.
import { defineCapability } from '../spec.ts';
import { ID_MAX, isObj, optInt, optional, strArray, type Obj } from '../../shared/wire/validate.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';

/** At most this many entries in one answer (the newest). */
export const MAX_JOURNAL_ENTRIES = 200;

export const spec = defineCapability({
  name: 'journal',
  doc: "the agent's records of runs (status, exit code, output tails), by task id or since a time",
  request: {
    type: 'journal',
    parse: (o) => ({
      ...optional('tasks', o['tasks'] === undefined ? undefined : strArray(o, 'tasks', 1000, ID_MAX)),
      ...optional('since', optInt(o, 'since')),
    }),
  },
  // Each entry is checked where it is used (web/src/lib/state/journal-collect.ts reads them
  // one by one and sets aside what it cannot read); here only the list.
  result: (d) => {
    const entries = d['entries'];
    if (!Array.isArray(entries) || entries.length > MAX_JOURNAL_ENTRIES * 5) throw new FlotillaError('bad-message', 'entries: expected a list');
    return { entries: entries.filter(isObj) as Obj[] };
  },
  role: 'viewer',
});
