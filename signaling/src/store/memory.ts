// The in-memory store backend (`--store memory`, and tests): the same rules as SQLite, lost on restart.

import { bytesQuota, conflict, recordsQuota } from './refusals.ts';
import { visibleTo, type FleetStats, type ListQuery, type ListResult, type RecordStore, type StoredRecord } from './types.ts';

interface FleetRecords {
  /** Map order is seq order: a put deletes the rid's entry and appends the new one. */
  records: Map<string, StoredRecord>;
  /** Highest version ever stored per rid; survives purges. */
  high: Map<string, number>;
  bytes: number;
}

/**
 * The seq of the next write: one more than the last, and at least the time in microseconds, so
 * a restarted memory store or a store restored from an older backup still hands out seqs above
 * those its clients remember as read (writes are far fewer than one per microsecond).
 */
export function nextSeq(last: number, now: number): number {
  return Math.max(last + 1, now * 1000);
}

/** Creates an empty in-memory store. */
export function createMemoryStore(): RecordStore {
  const fleets = new Map<string, FleetRecords>();
  let seq = 0;

  const fleetOf = (fleet: string): FleetRecords => {
    let f = fleets.get(fleet);
    if (!f) fleets.set(fleet, (f = { records: new Map(), high: new Map(), bytes: 0 }));
    return f;
  };
  const drop = (f: FleetRecords, rid: string): void => {
    const old = f.records.get(rid);
    if (!old) return;
    f.records.delete(rid);
    f.bytes -= old.size;
  };
  const purgeFleet = (f: FleetRecords, t: number): number => {
    let n = 0;
    for (const [rid, r] of f.records) {
      if (r.exp > t) continue;
      drop(f, rid);
      n++;
    }
    return n;
  };

  return {
    where: 'memory',
    put(input, quota, t) {
      const f = fleetOf(input.fleet);
      const high = f.high.get(input.rid);
      if (high !== undefined && input.version <= high) return Promise.reject(conflict(input.rid, high));
      const fits = (): Error | undefined => {
        const old = f.records.get(input.rid);
        if (!old && f.records.size + 1 > quota.maxRecords) return recordsQuota(quota.maxRecords);
        if (f.bytes - (old?.size ?? 0) + input.body.length > quota.maxBytes) return bytesQuota(quota.maxBytes);
        return undefined;
      };
      // Expired records still count until purged: purge this fleet before refusing.
      let refusal = fits();
      if (refusal && purgeFleet(f, t) > 0) refusal = fits();
      if (refusal) return Promise.reject(refusal);
      drop(f, input.rid);
      const record: StoredRecord = {
        rid: input.rid,
        kind: input.kind,
        version: input.version,
        to: [...input.to],
        exp: input.exp,
        by: input.by,
        seq: (seq = nextSeq(seq, t)),
        size: input.body.length,
        at: t,
        body: input.body,
      };
      f.records.set(input.rid, record);
      f.bytes += record.size;
      f.high.set(input.rid, input.version);
      return Promise.resolve({ seq: record.seq, version: record.version, at: record.at });
    },
    list(q: ListQuery): Promise<ListResult> {
      const records: StoredRecord[] = [];
      let bytes = 0;
      let more = false;
      for (const r of fleets.get(q.fleet)?.records.values() ?? []) {
        if (r.seq <= q.since || r.exp <= q.now || !visibleTo(r, q.reader, q.readerIsDevice)) continue;
        if (records.length >= q.limit || (records.length > 0 && bytes + r.size > q.maxBytes)) {
          more = true;
          break;
        }
        records.push(r);
        bytes += r.size;
      }
      return Promise.resolve({ records, next: records.at(-1)?.seq ?? q.since, more });
    },
    stats(fleet, t): Promise<FleetStats> {
      const f = fleets.get(fleet);
      if (!f) return Promise.resolve({ records: 0, bytes: 0 });
      purgeFleet(f, t);
      return Promise.resolve({ records: f.records.size, bytes: f.bytes });
    },
    purgeExpired(t) {
      let n = 0;
      for (const f of fleets.values()) n += purgeFleet(f, t);
      return Promise.resolve(n);
    },
    close: () => Promise.resolve(),
  };
}
