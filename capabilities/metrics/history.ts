// The agent's metrics history: a round-robin store of three tiers (5 s buckets for an hour, 1 min
// for a day, 10 min for 30 days), each bucket keeping the average and the maximum of every series
// sampled in it, and the number of samples. Bounded: at most MAX_SERIES series, so the three
// files stay under 10 MiB.
//
// On disk, one binary file per tier: a 16-byte header, then one fixed-width record per slot
// ([u32 bucket][u32 samples][f32 avg, f32 max per series column]); a bucket has a fixed slot
// (bucket mod slots). Only the buckets touched since the last save are in memory, and a save
// writes just those records in place (about 5 KiB a minute for 40 series), so the agent's memory
// does not grow with the history; a query reads the records of its range from the file. JSON
// lines would need compaction and parsing up to 10 MiB at every start; float32 keeps 7
// significant digits, plenty for a chart. Zero bytes mean "nothing sampled" (a value of 0 is
// stored as -0), so a new file is a sparse one of zeros. The series names (column order,
// append-only) are in series.json beside the tiers.

import { closeSync, openSync, readSync } from 'node:fs';
import { mkdir, open, readFile, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_CELLS, MAX_POINTS, MAX_SERIES, seriesMatch, type SeriesPoints } from './spec.ts';

/** One tier: buckets of `step` ms, `slots` of them. */
export interface Tier {
  step: number;
  slots: number;
}

/** 5 s for 1 h, 1 min for 24 h, 10 min for 30 days. */
export const TIERS: readonly Tier[] = [
  { step: 5_000, slots: 720 },
  { step: 60_000, slots: 1440 },
  { step: 600_000, slots: 4320 },
];

const MAGIC = 0x314d4c46; // 'FLM1' read as a little-endian u32
const HEADER_BYTES = 16;
/** Columns are allocated this many at a time (more rewrites the files once). */
const COLUMN_CHUNK = 16;

/** What a history query returns. */
export interface HistoryAnswer {
  start: number;
  step: number;
  series: Record<string, SeriesPoints>;
}

/** A query: a range (ms since the epoch), the step wanted, and which series. */
export interface HistoryQuery {
  since: number;
  until: number;
  resolution?: number;
  series?: readonly string[];
}

/** The history store: add samples, query, save to and load from `dir`. */
export interface History {
  add(t: number, values: Readonly<Record<string, number>>): void;
  query(q: HistoryQuery): HistoryAnswer;
  /** Writes what changed since the last save. */
  save(): Promise<void>;
  /** Series names in column order. */
  names(): readonly string[];
  /** Bytes the tier files take (their fixed size). */
  bytes(): number;
  /** Closes the files. */
  close(): void;
}

/** One record's views: u32 for the header and zero tests, f32 for values. */
interface Rec {
  u32: Uint32Array;
  f32: Float32Array;
}

function record(columns: number): Rec {
  const buffer = new ArrayBuffer(4 * (2 + 2 * columns));
  return { u32: new Uint32Array(buffer), f32: new Float32Array(buffer) };
}

/** Stores a value so that it is never all-zero bits (which mean "absent"). */
function put(f32: Float32Array, i: number, v: number): void {
  f32[i] = v === 0 ? -0 : v;
}

function roundUp(n: number): number {
  return Math.min(MAX_SERIES, Math.max(COLUMN_CHUNK, Math.ceil(n / COLUMN_CHUNK) * COLUMN_CHUNK));
}

/** Rounds for the wire: whole numbers from 1000 up, three decimals below. */
function wire(v: number): number {
  return Math.abs(v) >= 1000 ? Math.round(v) : Math.round(v * 1000) / 1000;
}

/** Where one tier's records live: a file, or (without a directory) memory. */
interface Backing {
  /** Columns of the records as stored. */
  columns: number;
  /** Reads `count` records from `slot` (no wrap) into `into`. */
  read(slot: number, count: number, into: Uint8Array): void;
  /** Writes records in place. */
  write(runs: { slot: number; bytes: Uint8Array }[]): Promise<void>;
  /** Stores every record again with `columns` columns (their values kept). */
  widen(columns: number): Promise<void>;
  close(): void;
}

function header(tier: Tier, columns: number): Uint8Array {
  return new Uint8Array(new Uint32Array([MAGIC, tier.step, tier.slots, columns]).buffer);
}

/** Copies records of `from` columns into records of `to` columns. */
function widenRecords(old: Uint8Array, slots: number, from: number, to: number): Uint8Array {
  const [a, b] = [4 * (2 + 2 * from), 4 * (2 + 2 * to)];
  const out = new Uint8Array(slots * b);
  for (let s = 0; s < slots; s++) out.set(old.subarray(s * a, (s + 1) * a), s * b);
  return out;
}

function memoryBacking(tier: Tier, columns: number): Backing {
  let data: Uint8Array = new Uint8Array(tier.slots * 4 * (2 + 2 * columns));
  const backing: Backing = {
    columns,
    read: (slot, count, into) => {
      const size = 4 * (2 + 2 * backing.columns);
      into.set(data.subarray(slot * size, (slot + count) * size));
    },
    write: async (runs) => {
      const size = 4 * (2 + 2 * backing.columns);
      for (const run of runs) data.set(run.bytes, run.slot * size);
    },
    widen: async (to) => {
      data = widenRecords(data, tier.slots, backing.columns, to);
      backing.columns = to;
    },
    close: () => undefined,
  };
  return backing;
}

async function fileBacking(path: string, tier: Tier, wanted: number, discard: boolean, onProblem: (what: string) => void): Promise<Backing> {
  const size = (columns: number) => HEADER_BYTES + tier.slots * 4 * (2 + 2 * columns);
  let columns = 0;
  // Without the names of its columns a file's values cannot be told apart: it starts afresh too.
  if (!discard) {
    // The header and the size only: the records are read when a query needs them.
    const handle = await open(path, 'r').catch(() => undefined);
    if (handle) {
      try {
        const head = new Uint32Array(4);
        const { bytesRead } = await handle.read(new Uint8Array(head.buffer), 0, HEADER_BYTES, 0);
        const stored = head[3]!;
        const { size: length } = await handle.stat();
        if (bytesRead < HEADER_BYTES || head[0] !== MAGIC || head[1] !== tier.step || head[2] !== tier.slots || stored > MAX_SERIES)
          onProblem(`${path}: not a history file of this layout; started afresh`);
        else if (length !== size(stored)) onProblem(`${path}: truncated; started afresh`);
        else columns = stored;
      } finally {
        await handle.close();
      }
    }
  }
  /** A file of `to` columns: the header, then zeros (sparse: nothing sampled yet). */
  const create = async (to: number) => {
    await writeFile(`${path}.tmp`, header(tier, to), { mode: 0o600 });
    await truncate(`${path}.tmp`, size(to));
  };
  if (!columns) {
    await create(wanted);
    await rename(`${path}.tmp`, path);
    columns = wanted;
  }
  let fd = openSync(path, 'r+');
  const backing: Backing = {
    columns,
    read: (slot, count, into) => {
      const bytes = 4 * (2 + 2 * backing.columns);
      readSync(fd, into, 0, count * bytes, HEADER_BYTES + slot * bytes);
    },
    write: async (runs) => {
      const handle = await open(path, 'r+');
      try {
        const bytes = 4 * (2 + 2 * backing.columns);
        for (const run of runs) await handle.write(run.bytes, 0, run.bytes.length, HEADER_BYTES + run.slot * bytes);
      } finally {
        await handle.close();
      }
    },
    widen: async (to) => {
      // A chunk of records at a time, and only the records that hold something: the new file
      // stays sparse, and memory stays small whatever the file's size.
      await create(to);
      const handle = await open(`${path}.tmp`, 'r+');
      try {
        const [from, next] = [4 * (2 + 2 * backing.columns), 4 * (2 + 2 * to)];
        const CHUNK = 128;
        const old = new Uint8Array(CHUNK * from);
        const u32 = new Uint32Array(old.buffer);
        for (let slot = 0; slot < tier.slots; slot += CHUNK) {
          const count = Math.min(CHUNK, tier.slots - slot);
          backing.read(slot, count, old);
          for (let r = 0; r < count; r++) {
            if (u32[(r * from) / 4] === 0) continue;
            await handle.write(old, r * from, from, HEADER_BYTES + (slot + r) * next);
          }
        }
      } finally {
        await handle.close();
      }
      await rename(`${path}.tmp`, path);
      closeSync(fd);
      fd = openSync(path, 'r+');
      backing.columns = to;
    },
    close: () => closeSync(fd),
  };
  return backing;
}

/**
 * Opens the history kept in `dir` (created if missing; unreadable or mismatched files are
 * started afresh and reported to `onProblem`), or one in memory without a directory.
 */
export async function openHistory(dir: string | undefined, options: { tiers?: readonly Tier[]; onProblem?: (what: string) => void } = {}): Promise<History> {
  const tiers = options.tiers ?? TIERS;
  const onProblem = options.onProblem ?? (() => undefined);
  let names: string[] = [];
  let namesLost = false;
  if (dir) {
    await mkdir(dir, { recursive: true });
    const text = await readFile(join(dir, 'series.json'), 'utf8').catch(() => undefined);
    try {
      const parsed: unknown = text === undefined ? [] : JSON.parse(text);
      if (!Array.isArray(parsed) || !parsed.every((n) => typeof n === 'string') || parsed.length > MAX_SERIES) throw new Error('not a list of names');
      names = parsed as string[];
    } catch (error) {
      onProblem(`series.json: ${(error as Error).message}; history started afresh`);
      namesLost = true;
    }
  }
  let namesSaved = names.length;
  const columnOf = new Map(names.map((n, i) => [n, i]));
  /** Columns of the records in memory (files catch up at the next save). */
  let columns = roundUp(names.length);
  const backings: Backing[] = [];
  for (const tier of tiers) {
    const backing = dir
      ? await fileBacking(join(dir, `tier-${tier.step / 1000}s.bin`), tier, columns, namesLost || !names.length, onProblem)
      : memoryBacking(tier, columns);
    // A file from before the names grew (a crash between the two writes) is widened now.
    if (backing.columns < columns) await backing.widen(columns);
    backings.push(backing);
  }
  /** Records touched since the last save, by tier and slot. */
  const pending = tiers.map(() => new Map<number, Rec>());
  // A restart within a bucket goes on filling it.
  for (const [i, tier] of tiers.entries()) {
    const bucket = Math.floor(Date.now() / tier.step);
    const rec = record(backings[i]!.columns);
    backings[i]!.read(bucket % tier.slots, 1, new Uint8Array(rec.u32.buffer));
    if (rec.u32[0] === bucket) pending[i]!.set(bucket % tier.slots, widenRec(rec, columns));
  }

  function widenRec(rec: Rec, to: number): Rec {
    if (rec.u32.length === 2 + 2 * to) return rec;
    const next = record(to);
    next.u32.set(rec.u32);
    return next;
  }

  function column(name: string): number | undefined {
    const known = columnOf.get(name);
    if (known !== undefined || names.length >= MAX_SERIES) return known;
    const index = names.length;
    names.push(name);
    columnOf.set(name, index);
    if (roundUp(names.length) > columns) {
      columns = roundUp(names.length);
      for (const map of pending) for (const [slot, rec] of map) map.set(slot, widenRec(rec, columns));
    }
    return index;
  }

  function add(t: number, values: Readonly<Record<string, number>>): void {
    const cols: [number, number][] = [];
    for (const [name, v] of Object.entries(values)) {
      const c = column(name);
      if (c !== undefined && Number.isFinite(v)) cols.push([c, v]);
    }
    for (const [i, tier] of tiers.entries()) {
      const bucket = Math.floor(t / tier.step);
      const slot = bucket % tier.slots;
      let rec = pending[i]!.get(slot);
      if (!rec || rec.u32[0] !== bucket) {
        rec = record(columns);
        rec.u32[0] = bucket;
        pending[i]!.set(slot, rec);
      }
      const n = rec.u32[1]!;
      for (const [c, v] of cols) {
        const a = 2 + 2 * c;
        put(rec.f32, a, rec.u32[a] === 0 ? v : rec.f32[a]! + (v - rec.f32[a]!) / (n + 1));
        if (rec.u32[a + 1] === 0 || v > rec.f32[a + 1]!) put(rec.f32, a + 1, v);
      }
      rec.u32[1] = n + 1;
    }
  }

  function query(q: HistoryQuery): HistoryAnswer {
    const now = Date.now();
    const until = Math.min(q.until, now);
    const since = Math.min(q.since, until);
    const wanted = q.resolution ?? 0;
    // Of the tiers that reach back to `since` (the coarsest if none does), the coarsest whose
    // step is not longer than asked, else the finest: buckets then merge up to the resolution.
    const indexes = tiers.map((_, i) => i);
    const reaching = indexes.filter((i) => Math.floor(now / tiers[i]!.step) - tiers[i]!.slots < Math.floor(since / tiers[i]!.step));
    const usable = reaching.length ? reaching : [tiers.length - 1];
    const ti = usable.filter((i) => tiers[i]!.step <= wanted).pop() ?? usable[0]!;
    const { step, slots } = tiers[ti]!;
    const chosen = names.map((name, c) => [name, c] as const).filter(([name]) => seriesMatch(name, q.series));
    let first = Math.max(Math.floor(since / step), Math.floor(now / step) - slots + 1);
    const last = Math.floor(until / step);
    const buckets = Math.max(0, last - first + 1);
    // Buckets merged k at a time: for the resolution asked, and to keep the answer one message.
    const k = Math.max(1, Math.ceil(wanted / step), Math.ceil((buckets * chosen.length) / MAX_CELLS), Math.ceil(buckets / (MAX_POINTS - 1)));
    const records = readRange(ti, first, last);
    first = Math.floor(first / k) * k;
    const count = Math.ceil((last - first + 1) / k);
    const series: Record<string, SeriesPoints> = {};
    for (const [name, c] of chosen) {
      const avg: (number | null)[] = [];
      const max: (number | null)[] = [];
      let seen = false;
      for (let j = 0; j < count; j++) {
        let sum = 0;
        let weight = 0;
        let top = -Infinity;
        for (let b = first + j * k; b < first + (j + 1) * k && b <= last; b++) {
          const rec = records.get(b);
          const a = 2 + 2 * c;
          if (!rec || a >= rec.u32.length || rec.u32[a] === 0) continue;
          const n = rec.u32[1]!;
          sum += rec.f32[a]! * n;
          weight += n;
          top = Math.max(top, rec.f32[a + 1]!);
        }
        avg.push(weight ? wire(sum / weight) : null);
        max.push(weight ? wire(top) : null);
        seen ||= weight > 0;
      }
      if (seen) series[name] = { avg, max };
    }
    return { start: first * step, step: step * k, series };
  }

  /** The records of buckets first..last of tier `ti`: the file's, and the unsaved ones over them. */
  function readRange(ti: number, first: number, last: number): Map<number, Rec> {
    const out = new Map<number, Rec>();
    if (last < first) return out;
    const { slots } = tiers[ti]!;
    const backing = backings[ti]!;
    const size = 4 * (2 + 2 * backing.columns);
    const all = new Uint8Array((last - first + 1) * size);
    // The range's slots, wrapping at most once (it spans at most `slots` buckets).
    const from = first % slots;
    const head = Math.min(last - first + 1, slots - from);
    backing.read(from, head, all.subarray(0, head * size));
    if (head < last - first + 1) backing.read(0, last - first + 1 - head, all.subarray(head * size));
    const u32 = new Uint32Array(all.buffer);
    const f32 = new Float32Array(all.buffer);
    const words = size / 4;
    for (let b = first; b <= last; b++) {
      const unsaved = pending[ti]!.get(b % slots);
      if (unsaved?.u32[0] === b) out.set(b, unsaved);
      else if (u32[(b - first) * words] === b)
        out.set(b, { u32: u32.subarray((b - first) * words, (b - first + 1) * words), f32: f32.subarray((b - first) * words, (b - first + 1) * words) });
    }
    return out;
  }

  async function save(): Promise<void> {
    if (dir && names.length !== namesSaved) {
      // Names first: a tier file never has a column series.json does not name.
      await writeFile(join(dir, 'series.json.tmp'), JSON.stringify(names), { mode: 0o600 });
      await rename(join(dir, 'series.json.tmp'), join(dir, 'series.json'));
      namesSaved = names.length;
    }
    for (const [i, tier] of tiers.entries()) {
      const backing = backings[i]!;
      if (backing.columns < columns) await backing.widen(columns);
      const map = pending[i]!;
      if (!map.size) continue;
      const runs = [...map].sort(([a], [b]) => a - b).map(([slot, rec]) => ({ slot, bytes: new Uint8Array(rec.u32.buffer) }));
      await backing.write(runs);
      // The newest bucket may still take samples: it stays; the others are on disk now.
      const newest = Math.floor(Date.now() / tier.step);
      for (const [slot, rec] of map) if (rec.u32[0] !== newest) map.delete(slot);
    }
  }

  return {
    add,
    query,
    save,
    names: () => names,
    bytes: () => tiers.reduce((n, t, i) => n + HEADER_BYTES + t.slots * 4 * (2 + 2 * backings[i]!.columns), 0),
    close: () => backings.forEach((b) => b.close()),
  };
}
