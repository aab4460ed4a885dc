// Tables derived from the registry: which capability answers which wire type, the parsers of
// every message a capability adds, and who may send what. The wire protocol, the agent's
// dispatcher, the controller and the CLI read these; none of them names a capability.

import * as registry from './registry.ts';
import { roleAtLeast, type AnySpec } from './spec.ts';
import type { Role } from '../shared/identity/certs.ts';
import type { Obj } from '../shared/wire/validate.ts';

/** Any capability's spec. */
export type Spec = (typeof registry)[keyof typeof registry];
/** A capability's name. */
export type CapabilityName = Spec['name'];

/** Every capability, in name order (a module namespace's order). */
export const CAPABILITIES: readonly Spec[] = Object.values(registry);

const byName = new Map<string, Spec>(CAPABILITIES.map((s) => [s.name, s]));
const byRequest = new Map<string, Spec>(CAPABILITIES.map((s) => [s.request.type, s]));

/** The capability called `name`. */
export function capability(name: string): Spec | undefined {
  return byName.get(name);
}

/** The capability whose request has this wire type. */
export function capabilityOfRequest(type: string): Spec | undefined {
  return byRequest.get(type);
}

/** The parsers of each wire type capabilities add: requests, events and follow-ups. */
export function capabilityParsers(): Map<string, { kind: 'request' | 'event' | 'followUp'; spec: Spec; parse: (o: Obj) => object }> {
  const table = new Map<string, { kind: 'request' | 'event' | 'followUp'; spec: Spec; parse: (o: Obj) => object }>();
  const add = (type: string, kind: 'request' | 'event' | 'followUp', spec: Spec, parse: (o: Obj) => object) => {
    if (table.has(type)) throw new Error(`capabilities: wire type "${type}" is declared twice (${table.get(type)!.spec.name}, ${spec.name})`);
    table.set(type, { kind, spec, parse });
  };
  for (const spec of CAPABILITIES as readonly AnySpec[] as readonly Spec[]) {
    add(spec.request.type, 'request', spec, spec.request.parse as (o: Obj) => object);
    const s = spec as AnySpec;
    for (const [type, parse] of Object.entries(s.events ?? {})) add(type, 'event', spec, parse as (o: Obj) => object);
    for (const [type, parse] of Object.entries(s.followUps ?? {})) add(type, 'followUp', spec, parse as (o: Obj) => object);
  }
  return table;
}

/** The least role that may send this request of `spec` (its fields decide when the spec says so). */
export function leastRole(spec: AnySpec, request: object): Role {
  return typeof spec.role === 'function' ? spec.role(request) : spec.role;
}

/**
 * True when `role` may send some request of wire type `type` (the PWA greys out what would be
 * refused; with `request`, exactly this one: the agent enforces that itself).
 */
export function roleAllowsRequest(role: Role, type: string, request?: object): boolean {
  const spec = byRequest.get(type);
  if (!spec) return false;
  if (request) return roleAtLeast(role, leastRole(spec, request));
  return typeof spec.role === 'function' || roleAtLeast(role, spec.role);
}
