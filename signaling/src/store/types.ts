// The sealed store's records and the interface every backend (memory, SQLite, later Redis)
// implements. The server never opens a body: it keeps ciphertext plus the routing fields.

/** Record kinds the store accepts (docs/protocol.md "Store"). */
export const RECORD_KINDS = ['keyring', 'doc', 'task', 'result', 'announce'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/** What a writer sends (the PUT body, validated), plus the fields the server derives. */
export interface RecordInput {
  fleet: string;
  rid: string;
  kind: RecordKind;
  version: number;
  /** Recipient ids, or exactly `['*']` for every member of the fleet. */
  to: string[];
  /** Expiry in ms since the epoch; always set here (the server fills in now + max TTL). */
  exp: number;
  /** The sealed envelope, decoded from base64. */
  body: Uint8Array;
  /** The writer's id, from its credential. */
  by: string;
}

/** A record as the store keeps it. */
export interface StoredRecord {
  rid: string;
  kind: RecordKind;
  version: number;
  to: string[];
  exp: number;
  by: string;
  seq: number;
  size: number;
  at: number;
  body: Uint8Array;
}

/** The per-fleet limits a backend enforces inside its write (so that a check and its write are one step). */
export interface StoreQuota {
  maxRecords: number;
  maxBytes: number;
}

/** One page of records for a reader. */
export interface ListResult {
  records: StoredRecord[];
  /** The last seq returned, or `since` when none was. */
  next: number;
  /** More records for this reader follow `next`. */
  more: boolean;
}

/** A list request: records after `since` that `reader` may see, at most `limit` or about `maxBytes` of bodies. */
export interface ListQuery {
  fleet: string;
  reader: string;
  /** The reader is a device (records to `@devices` are listed for it). */
  readerIsDevice: boolean;
  since: number;
  limit: number;
  /** Stop adding records once their bodies reach this many bytes (at least one record is returned). */
  maxBytes: number;
  now: number;
}

/** What a fleet holds now (expired records not counted). */
export interface FleetStats {
  records: number;
  bytes: number;
}

/** A store backend. Every method may throw FlotillaError (`conflict`, `quota`); other errors are internal. */
export interface RecordStore {
  /** Where the records live, for logs: `memory` or the SQLite file. */
  readonly where: string;
  /**
   * Stores `record`, replacing the fleet's earlier version of the rid, once it is durable.
   * Refuses a version at or below the highest ever stored for (fleet, rid) (`conflict`) and a
   * write that would take the fleet over `quota` (`quota`).
   */
  put(record: RecordInput, quota: StoreQuota, now: number): Promise<{ seq: number; version: number; at: number }>;
  list(query: ListQuery): Promise<ListResult>;
  stats(fleet: string, now: number): Promise<FleetStats>;
  /** Deletes every record whose `exp` is at or before `now`; returns how many. High-water marks stay. */
  purgeExpired(now: number): Promise<number>;
  close(): Promise<void>;
}

/** True when `reader` may see `record`: a recipient, the whole fleet, every device (for a device), or its writer. */
export function visibleTo(record: { to: string[]; by: string }, reader: string, readerIsDevice = false): boolean {
  return record.by === reader || record.to[0] === '*' || record.to.includes(reader) || (readerIsDevice && record.to.includes('@devices'));
}
