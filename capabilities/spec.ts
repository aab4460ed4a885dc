// What a capability declares about itself: its wire messages with their validators, the least
// role that may use it, and the traits the generic dispatcher and controller act on. Isomorphic:
// a spec runs in the agent, the CLI and the browser, so it imports nothing platform-bound.

import type { Permission, Role } from '../shared/identity/certs.ts';
import type { Obj } from '../shared/wire/validate.ts';

/** Bytes of each output stream a controller has already seen (a reattaching exec). */
export interface Offsets {
  stdout: number;
  stderr: number;
}

/** Behaviour the dispatcher and the controller apply to every capability that declares it. */
export interface Traits<Req> {
  /**
   * The request names a task (`task`): the agent journals the run under that id, runs a task id
   * at most once, and answers a re-sent id from the journal. `summary` is what the journal and
   * the audit log show of it.
   */
  readonly journaled?: { readonly summary: (request: Req) => string };
  /**
   * The request streams `output` events (stdout, stderr) and a controller that lost its
   * connection may send it again with `attach` to follow the running task: it gets what it
   * missed and the result. Implies journaled.
   */
  readonly reattach?: boolean;
  /** What the audit log records of a request beside its type (a command line, a path). */
  readonly audit?: (request: Req) => string;
}

/** One CLI command a capability provides: what the usage text and option parser need. */
export interface CliCommandSpec {
  /** The command word (`flotilla <name>`). */
  readonly name: string;
  /** Usage lines for `flotilla --help`: the synopsis, then an indented description. */
  readonly usage: readonly string[];
  /** Options beyond the common ones (--json, --timeout, --forks, --task, -v…). */
  readonly options?: Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly multiple?: boolean; readonly short?: string }>>;
  /** A control process (warm mode) can serve it. */
  readonly warm?: boolean;
}

/** Where a capability shows in the PWA. */
export interface WebSpec {
  /** A tab on the host page after Overview, ordered by `order` (then label). */
  readonly hostTab?: { readonly label: string; readonly order: number };
}

/** A capability: one folder in capabilities/, one line in capabilities/registry.ts. */
export interface CapabilitySpec<
  N extends string = string,
  T extends string = string,
  Req extends object = object,
  Data extends object = object,
  Ev extends Record<string, object> = Record<string, object>,
  Fu extends Record<string, object> = Record<string, object>,
> {
  /** The folder's name; journal entries record it as their `op`. */
  readonly name: N;
  /** One line for docs/protocol.md and --help. */
  readonly doc: string;
  /** The request message: its wire type and a validator of its fields (without `type` and `id`). */
  readonly request: { readonly type: T; readonly parse: (o: Obj) => Req };
  /** Validates the `data` of an `ok` result; the controller's typed call runs it on arrival. */
  readonly result: (data: Obj) => Data;
  /** Events the agent may send for a request before its result, by wire type. */
  readonly events?: { readonly [K in keyof Ev]: (o: Obj) => Ev[K] };
  /** Messages the controller sends after the request, with its id (push chunks). */
  readonly followUps?: { readonly [K in keyof Fu]: (o: Obj) => Fu[K] };
  /**
   * The least role that may send the request (viewer < operator < admin); a function when it
   * depends on the request (reading needs viewer, changing needs operator).
   */
  readonly role: Role | ((request: Req) => Role);
  /**
   * A permission a device certificate may take away (`deny` in shared/identity/certs.ts): the
   * agent refuses a device whose certificate denies it, whatever its role.
   */
  readonly permission?: Permission;
  readonly traits?: Traits<Req>;
  readonly cli?: readonly CliCommandSpec[];
  readonly web?: WebSpec;
}

/** Any capability spec. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the registry holds specs of every shape
export type AnySpec = CapabilitySpec<string, string, any, any, any, any>;

/** Declares a capability; the generic parameters are inferred from the validators. */
export function defineCapability<
  const N extends string,
  const T extends string,
  Req extends object,
  Data extends object,
  Ev extends Record<string, object> = Record<never, object>,
  Fu extends Record<string, object> = Record<never, object>,
>(spec: CapabilitySpec<N, T, Req, Data, Ev, Fu>): CapabilitySpec<N, T, Req, Data, Ev, Fu> {
  return spec;
}

/** The request fields of a spec (without `type` and `id`). */
export type RequestOf<S extends AnySpec> = ReturnType<S['request']['parse']>;
/** The typed `data` of a spec's ok result. */
export type DataOf<S extends AnySpec> = ReturnType<S['result']>;
/** A spec's event payloads by wire type. */
export type EventsOf<S extends AnySpec> = { [K in keyof NonNullable<S['events']>]: ReturnType<NonNullable<S['events']>[K]> };
/** A spec's follow-up payloads by wire type. */
export type FollowUpsOf<S extends AnySpec> = { [K in keyof NonNullable<S['followUps']>]: ReturnType<NonNullable<S['followUps']>[K]> };

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** True when `role` is at least `least`. */
export function roleAtLeast(role: Role, least: Role): boolean {
  return RANK[role] >= RANK[least];
}
