// The capabilities, one line each, in the order --help and the host page's tabs list them.
// Everything else (the wire protocol's message table, authorization, the agent's handlers, the
// CLI's commands and the PWA's host tabs) is derived from this list (capabilities/index.ts).

export { spec as ping } from './ping/spec.ts';
export { spec as facts } from './facts/spec.ts';
export { spec as exec } from './exec/spec.ts';
export { spec as push } from './push/spec.ts';
export { spec as fetch } from './fetch/spec.ts';
export { spec as journal } from './journal/spec.ts';
export { spec as tags } from './tags/spec.ts';
export { spec as hostCert } from './host-cert/spec.ts';
export { spec as audit } from './audit/spec.ts';
