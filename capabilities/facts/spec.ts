// facts: what the inventory shows about a host (name, OS, hardware, addresses, tags, load).
import { defineCapability } from '../spec.ts';
import { parseFacts } from '../../shared/controller/hosts.ts';

export const spec = defineCapability({
  name: 'facts',
  doc: "the host's name, OS, kernel, hardware, addresses, tags, region, load and free memory",
  request: { type: 'facts', parse: () => ({}) },
  result: (d) => parseFacts(d),
  role: 'viewer',
});
