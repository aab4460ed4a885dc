// tags: tags set from a controller, kept in the agent's state beside its configured tags.
import { defineCapability } from '../spec.ts';
import { optBool, optional, strMap } from '../../shared/wire/validate.ts';

export const spec = defineCapability({
  name: 'tags',
  doc: "set or replace the host's tags (an empty value removes one)",
  request: { type: 'tags.set', parse: (o) => ({ tags: strMap(o, 'tags', 64, 256), ...optional('replace', optBool(o, 'replace')) }) },
  result: (d) => ({ tags: strMap(d, 'tags', 256, 256) }),
  role: 'operator',
  cli: [{ name: 'tag', usage: ['tag <host> key=value…', 'set tags on a host (key= removes)'] }],
});
