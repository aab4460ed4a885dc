// The SQLite store backend (`--store sqlite`, `<data-dir>/store.sqlite`): one file, WAL with
// synchronous=FULL, and a put is answered only after the transaction holding it committed, so
// an answered put survives SIGKILL or a power cut. better-sqlite3 is synchronous: a commit holds
// the event loop for its fsync (about 6 ms on this machine's disk), which keeps each check and
// its write one atomic step without locks. Group commit: the puts that arrive in one turn of the
// event loop share one transaction (each in its own savepoint, so one refused put does not undo
// the others) and one fsync; one transaction per put measured 156 puts/s here, bound by fsync.

import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { nextSeq } from './memory.ts';
import { bytesQuota, conflict, recordsQuota } from './refusals.ts';
import type { FleetStats, ListQuery, ListResult, RecordInput, RecordKind, RecordStore, StoredRecord, StoreQuota } from './types.ts';

/** The file name inside --data-dir. */
export const STORE_FILE = 'store.sqlite';
const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  fleet TEXT NOT NULL,
  rid TEXT NOT NULL,
  kind TEXT NOT NULL,
  version INTEGER NOT NULL,
  recipients TEXT NOT NULL,
  to_all INTEGER NOT NULL,
  exp INTEGER NOT NULL,
  by_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  size INTEGER NOT NULL,
  at INTEGER NOT NULL,
  body BLOB NOT NULL,
  PRIMARY KEY (fleet, rid)
);
CREATE UNIQUE INDEX IF NOT EXISTS records_fleet_seq ON records (fleet, seq);
CREATE INDEX IF NOT EXISTS records_exp ON records (exp);
CREATE TABLE IF NOT EXISTS high_water (
  fleet TEXT NOT NULL,
  rid TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (fleet, rid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fleets (fleet TEXT PRIMARY KEY, records INTEGER NOT NULL, bytes INTEGER NOT NULL) WITHOUT ROWID;
`;

type PutResult = { seq: number; version: number; at: number };

interface Row {
  rid: string;
  kind: RecordKind;
  version: number;
  recipients: string;
  exp: number;
  by_id: string;
  seq: number;
  size: number;
  at: number;
  body: Buffer;
}

/** Opens (creating if needed) `<dir>/store.sqlite`; better-sqlite3 is loaded only here. */
export async function openSqliteStore(dir: string): Promise<RecordStore> {
  const { default: Database } = await import('better-sqlite3');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, STORE_FILE);
  closeSync(openSync(file, 'a', 0o600)); // created private; SQLite gives -wal and -shm the same mode
  let db: BetterSqlite3.Database;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(SCHEMA);
  } catch (error) {
    throw new FlotillaError('bad-config', `cannot open the store ${file}: ${(error as Error).message}`);
  }
  db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('schema', SCHEMA_VERSION);
  db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('seq', 0);
  const schema = (db.prepare('SELECT value FROM meta WHERE key = ?').get('schema') as { value: number }).value;
  if (schema !== SCHEMA_VERSION) {
    db.close();
    throw new FlotillaError('bad-config', `the store ${file} has schema version ${schema}; this server reads version ${SCHEMA_VERSION}: upgrade the server`);
  }
  return createStore(db, file);
}

function createStore(db: BetterSqlite3.Database, file: string): RecordStore {
  const q = {
    high: db.prepare<[string, string], { version: number }>('SELECT version FROM high_water WHERE fleet = ? AND rid = ?'),
    old: db.prepare<[string, string], { size: number }>('SELECT size FROM records WHERE fleet = ? AND rid = ?'),
    counts: db.prepare<[string], FleetStats>('SELECT records, bytes FROM fleets WHERE fleet = ?'),
    lastSeq: db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'seq'"),
    setSeq: db.prepare<[number]>("UPDATE meta SET value = ? WHERE key = 'seq'"),
    upsert: db.prepare(
      `INSERT INTO records (fleet, rid, kind, version, recipients, to_all, exp, by_id, seq, size, at, body)
       VALUES (@fleet, @rid, @kind, @version, @recipients, @toAll, @exp, @by, @seq, @size, @at, @body)
       ON CONFLICT (fleet, rid) DO UPDATE SET kind = excluded.kind, version = excluded.version, recipients = excluded.recipients,
         to_all = excluded.to_all, exp = excluded.exp, by_id = excluded.by_id, seq = excluded.seq, size = excluded.size,
         at = excluded.at, body = excluded.body`,
    ),
    setHigh: db.prepare('INSERT INTO high_water (fleet, rid, version) VALUES (?, ?, ?) ON CONFLICT (fleet, rid) DO UPDATE SET version = excluded.version'),
    addCounts: db.prepare(
      'INSERT INTO fleets (fleet, records, bytes) VALUES (@fleet, @records, @bytes) ON CONFLICT (fleet) DO UPDATE SET records = records + @records, bytes = bytes + @bytes',
    ),
    anyExpired: db.prepare<[number], { one: number }>('SELECT 1 AS one FROM records WHERE exp <= ? LIMIT 1'),
    purgeAll: db.prepare<[number], { fleet: string; size: number }>('DELETE FROM records WHERE exp <= ? RETURNING fleet, size'),
    purgeFleet: db.prepare<[string, number], { fleet: string; size: number }>('DELETE FROM records WHERE fleet = ? AND exp <= ? RETURNING fleet, size'),
    list: db.prepare<[string, number, number, string, string, number, number], Row>(
      `SELECT rid, kind, version, recipients, exp, by_id, seq, size, at, body FROM records
       WHERE fleet = ? AND seq > ? AND exp > ? AND (to_all = 1 OR by_id = ? OR instr(recipients, ?) > 0 OR (? = 1 AND instr(recipients, '"@devices"') > 0))
       ORDER BY seq LIMIT ?`,
    ),
  };

  /** Deletes expired rows and takes them off their fleets' counters; call inside a transaction. */
  const subtract = (rows: { fleet: string; size: number }[]): number => {
    const per = new Map<string, { records: number; bytes: number }>();
    for (const row of rows) {
      const c = per.get(row.fleet) ?? { records: 0, bytes: 0 };
      c.records++;
      c.bytes += row.size;
      per.set(row.fleet, c);
    }
    for (const [fleet, c] of per) q.addCounts.run({ fleet, records: -c.records, bytes: -c.bytes });
    return rows.length;
  };
  const purge = db.transaction((now: number) => subtract(q.purgeAll.all(now)));
  const purgeIfDue = (now: number): void => {
    if (q.anyExpired.get(now)) purge.immediate(now);
  };

  const putOne = db.transaction((input: RecordInput, quota: StoreQuota, now: number) => {
    const high = q.high.get(input.fleet, input.rid)?.version;
    if (high !== undefined && input.version <= high) throw conflict(input.rid, high);
    const fits = (): FlotillaError | undefined => {
      const old = q.old.get(input.fleet, input.rid);
      const counts = q.counts.get(input.fleet) ?? { records: 0, bytes: 0 };
      if (!old && counts.records + 1 > quota.maxRecords) return recordsQuota(quota.maxRecords);
      if (counts.bytes - (old?.size ?? 0) + input.body.length > quota.maxBytes) return bytesQuota(quota.maxBytes);
      return undefined;
    };
    // Expired records still count until purged: purge this fleet before refusing.
    let refusal = fits();
    if (refusal && subtract(q.purgeFleet.all(input.fleet, now)) > 0) refusal = fits();
    if (refusal) throw refusal;
    const old = q.old.get(input.fleet, input.rid);
    const last = q.lastSeq.get()?.value;
    if (last === undefined) throw new Error('the store has no seq counter');
    const seq = nextSeq(last, now);
    q.setSeq.run(seq);
    q.upsert.run({
      fleet: input.fleet,
      rid: input.rid,
      kind: input.kind,
      version: input.version,
      recipients: JSON.stringify(input.to),
      toAll: input.to[0] === '*' ? 1 : 0,
      exp: input.exp,
      by: input.by,
      seq,
      size: input.body.length,
      at: now,
      body: input.body,
    });
    q.setHigh.run(input.fleet, input.rid, input.version);
    q.addCounts.run({ fleet: input.fleet, records: old ? 0 : 1, bytes: input.body.length - (old?.size ?? 0) });
    return { seq, version: input.version, at: now };
  });

  type Put = { input: RecordInput; quota: StoreQuota; now: number; done: (error: Error | undefined, result?: PutResult) => void };
  let pending: Put[] = [];
  let outcomes: { error?: Error; result?: PutResult }[] = [];
  const putBatch = db.transaction((batch: Put[]) => {
    for (const p of batch) {
      try {
        outcomes.push({ result: putOne(p.input, p.quota, p.now) }); // nested: a savepoint
      } catch (error) {
        outcomes.push({ error: error as Error });
      }
    }
  });
  /** Runs every queued put in one transaction, then answers each (after the commit). */
  const flush = (): void => {
    const batch = pending;
    pending = [];
    if (batch.length === 0) return; // close() flushed them already
    outcomes = [];
    try {
      putBatch.immediate(batch);
    } catch (error) {
      for (const p of batch) p.done(error as Error);
      return;
    }
    batch.forEach((p, i) => p.done(outcomes[i]?.error, outcomes[i]?.result));
  };

  const toRecord = (row: Row): StoredRecord => ({
    rid: row.rid,
    kind: row.kind,
    version: row.version,
    to: JSON.parse(row.recipients) as string[],
    exp: row.exp,
    by: row.by_id,
    seq: row.seq,
    size: row.size,
    at: row.at,
    body: new Uint8Array(row.body.buffer, row.body.byteOffset, row.body.byteLength),
  });

  return {
    where: file,
    put: (input, quota, now) =>
      new Promise((resolve, reject) => {
        pending.push({ input, quota, now, done: (error, result) => (error || !result ? reject(error ?? new Error('no result')) : resolve(result)) });
        if (pending.length === 1) setImmediate(flush);
      }),
    list(query: ListQuery): Promise<ListResult> {
      purgeIfDue(query.now);
      const records: StoredRecord[] = [];
      let bytes = 0;
      let more = false;
      // Ids are base32, so the quoted id matches only a whole element of the JSON list.
      for (const row of q.list.iterate(query.fleet, query.since, query.now, query.reader, `"${query.reader}"`, query.readerIsDevice ? 1 : 0, query.limit + 1)) {
        if (records.length >= query.limit || (records.length > 0 && bytes + row.size > query.maxBytes)) {
          more = true;
          break;
        }
        records.push(toRecord(row));
        bytes += row.size;
      }
      return Promise.resolve({ records, next: records.at(-1)?.seq ?? query.since, more });
    },
    stats(fleet, now) {
      purgeIfDue(now);
      return Promise.resolve(q.counts.get(fleet) ?? { records: 0, bytes: 0 });
    },
    purgeExpired: (now) => Promise.resolve(purge.immediate(now)),
    close() {
      if (pending.length > 0) flush();
      if (db.open) db.close();
      return Promise.resolve();
    },
  };
}
