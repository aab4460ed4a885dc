// The controller's view of the fleet's hosts, and the stores a controller needs (the CLI
// keeps them in JSON files, the PWA in IndexedDB).

import { isObj, optBool, optInt, optional, optStr, str, int, strArray, strMap, type Obj } from '../wire/validate.ts';
import { FlotillaError } from '../wire/errors.ts';
import type { SelectableHost } from './selector.ts';

/** Accepted into the fleet, waiting for an admin, or refused. */
export type HostStatus = 'accepted' | 'pending' | 'rejected';

/** What a host reports about itself (validated from the agent's facts). */
export interface HostFacts {
  hostname: string;
  os: string;
  /** os-release PRETTY_NAME (or the kernel release where there is none). */
  release: string;
  /** os-release ID, such as `debian`; absent from agents before issue 17. */
  distro?: string | undefined;
  /** os-release VERSION_ID, such as `12` or `22.04`; absent from agents before issue 17. */
  distroVersion?: string | undefined;
  arch: string;
  cpus: number;
  memoryBytes: number;
  uptimeS: number;
  ips: string[];
  agentVersion: string;
  tags: Record<string, string>;
  region: string | undefined;
  /** Kernel release (uname -r). Absent from records made before agents reported it. */
  kernel?: string;
  /** Free memory when the facts were read. */
  freeMemoryBytes?: number;
  /** Load averages over 1, 5 and 15 minutes when the facts were read. */
  load?: [number, number, number];
  /** Whether the agent holds a host certificate (was accepted), by its own account. */
  accepted?: boolean;
}

/** A host as a controller remembers it. */
export interface HostRecord {
  id: string;
  status: HostStatus;
  signPub: string;
  encPub: string;
  facts: HostFacts | undefined;
  firstSeen: number;
  lastSeen: number;
}

/** Persistent host list. */
export interface HostStore {
  all(): Promise<HostRecord[]>;
  get(id: string): Promise<HostRecord | undefined>;
  put(record: HostRecord): Promise<void>;
}

/** A join token as its issuing device remembers it. */
export interface TokenRecord {
  tid: string;
  secret: string;
  exp: number;
  createdAt: number;
  revoked: boolean;
  usedBy: string[];
  /** Hosts this token may enroll (the secret is one-time by default); absent means 1. */
  maxUses?: number;
}

/** Persistent token list (only on devices that issue tokens). */
export interface TokenStore {
  all(): Promise<TokenRecord[]>;
  get(tid: string): Promise<TokenRecord | undefined>;
  put(record: TokenRecord): Promise<void>;
}

/** Validates the facts an agent returned. */
export function parseFacts(data: Obj | undefined): HostFacts {
  const o = isObj(data) ? data : {};
  const region = o['region'] === null ? undefined : optStr(o, 'region', 128);
  return {
    hostname: str(o, 'hostname', 256),
    os: str(o, 'os', 64),
    release: str(o, 'release', 256),
    distro: o['distro'] === null ? undefined : optStr(o, 'distro', 64),
    distroVersion: o['distroVersion'] === null ? undefined : optStr(o, 'distroVersion', 64),
    arch: str(o, 'arch', 64),
    cpus: int(o, 'cpus', 0, 100_000),
    memoryBytes: int(o, 'memoryBytes'),
    uptimeS: int(o, 'uptimeS'),
    ips: strArray(o, 'ips', 256, 64),
    agentVersion: str(o, 'agentVersion', 64),
    tags: strMap(o, 'tags', 128, 256),
    region,
    ...optional('kernel', optStr(o, 'kernel', 256)),
    ...optional('freeMemoryBytes', optInt(o, 'freeMemoryBytes')),
    ...optional('load', parseLoad(o['load'])),
    ...optional('accepted', optBool(o, 'accepted')),
  };
}

function parseLoad(value: unknown): [number, number, number] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length !== 3 || !value.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0)) {
    throw new FlotillaError('bad-message', 'load: expected three load averages');
  }
  return [value[0] as number, value[1] as number, value[2] as number];
}

/** The fields selectors match on; hosts never contacted match by id only (no name, no facts). */
export function toSelectable(record: HostRecord, online: boolean): SelectableHost {
  const facts = record.facts;
  return {
    id: record.id,
    hostname: facts?.hostname ?? '',
    os: facts?.os ?? '',
    region: facts?.region,
    tags: facts?.tags ?? {},
    online,
    ips: facts?.ips ?? [],
    distro: facts?.distro,
    distroVersion: facts?.distroVersion,
    arch: facts?.arch,
  };
}

/** A display name: hostname if known, else the short id. */
export function hostLabel(record: HostRecord | undefined, id: string): string {
  return record?.facts?.hostname ?? id.slice(0, 8);
}

/** Display names for several hosts: the hostname, with the short id added where names repeat. */
export function uniqueLabels(records: readonly HostRecord[]): Map<string, string> {
  const counts = new Map<string, number>();
  for (const r of records) counts.set(hostLabel(r, r.id), (counts.get(hostLabel(r, r.id)) ?? 0) + 1);
  return new Map(
    records.map((r) => {
      const label = hostLabel(r, r.id);
      return [r.id, (counts.get(label) ?? 0) > 1 ? `${label}@${r.id.slice(0, 6)}` : label];
    }),
  );
}
