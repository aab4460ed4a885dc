// The capabilities, one line each. Everything else (the wire protocol's message table,
// authorization, the agent's handlers, the CLI's commands and usage, the PWA's host tabs) is
// derived from this list (capabilities/index.ts). A module's exports are read in name order, so
// that is the order of --help; the host page orders its tabs by each spec's web.hostTab.order.

export { spec as ping } from './ping/spec.ts';
export { spec as facts } from './facts/spec.ts';
export { spec as exec } from './exec/spec.ts';
export { spec as push } from './push/spec.ts';
export { spec as fetch } from './fetch/spec.ts';
export { spec as journal } from './journal/spec.ts';
export { spec as jobs } from './jobs/spec.ts';
export { spec as tags } from './tags/spec.ts';
export { spec as hostCert } from './host-cert/spec.ts';
export { spec as audit } from './audit/spec.ts';
export { spec as processes } from './processes/spec.ts';
export { spec as ports } from './ports/spec.ts';
export { spec as environment } from './environment/spec.ts';
export { spec as hostsFile } from './hosts-file/spec.ts';
export { spec as services } from './services/spec.ts';
export { spec as logs } from './logs/spec.ts';
export { spec as metrics } from './metrics/spec.ts';
export { spec as terminal } from './terminal/spec.ts';
export { spec as terminals } from './terminals/spec.ts';
export { spec as recordings } from './recordings/spec.ts';
