// The agent's metrics history: a round-robin store of three tiers (5 s buckets for an hour, 1 min
// for a day, 10 min for 30 days), each bucket keeping the average and the maximum of every series
// sampled in it, and the number of samples. Bounded: at most MAX_SERIES series, so the three
// files stay under 10 MiB.
//
// On disk, one binary file per tier laid out like memory: a 16-byte header, then one fixed-width
// record per slot ([u32 bucket][u32 samples][f32 avg, f32 max per series column]). A bucket
// maps to a fixed slot (bucket mod slots), so saving what changed since the last save is a few
// positional writes (about 4 KiB a minute for 40 series) rather than rewriting the file, and
// loading is one read. JSON lines would need compaction and parsing 10 MiB at start; float32
// keeps 7 significant digits, plenty for a chart. The series names (column order, append-only)
// are in series.json beside the tiers.

import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
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
/** Columns are allocated this many at a time (a new one rewrites the files once). */
const COLUMN_CHUNK = 16;

/** What a history query returns. */
export interface HistoryAnswer {
  start: number;
  step: number;
  series: Record<string, SeriesPoints>;
}

/** A query: a range (ms since the epoch), the coarsest step wanted, and which series. */
export interface HistoryQuery {
  since: number;
  until: number;
  resolution?: number;
  series?: readonly string[];
}

interface TierData {
  tier: Tier;
  words: number;
  u32: Uint32Array;
  f32: Float32Array;
  dirty: Set<number>;
  /** The whole file must be written again (new, or columns grown). */
  rewrite: boolean;
}

/** The history store: add samples, query, save to and load from `dir`. */
export interface History {
  add(t: number, values: Readonly<Record<string, number>>): void;
  query(q: HistoryQuery): HistoryAnswer;
  /** Writes what changed since the last save (no-op without a directory). */
  save(): Promise<void>;
  /** Series names in column order. */
  names(): readonly string[];
  /** Bytes the tiers take in memory (and on disk). */
  bytes(): number;
}

function allocate(tier: Tier, columns: number): TierData {
  const words = 2 + 2 * columns;
  const buffer = new ArrayBuffer(tier.slots * words * 4);
  const f32 = new Float32Array(buffer);
  f32.fill(NaN);
  const u32 = new Uint32Array(buffer);
  for (let s = 0; s < tier.slots; s++) u32[s * words] = u32[s * words + 1] = 0;
  return { tier, words, u32, f32, dirty: new Set(), rewrite: true };
}

/** Copies a tier's records into a wider layout. */
function widen(old: TierData, columns: number): TierData {
  const next = allocate(old.tier, columns);
  // Byte copies: the u32 header words must not pass through float conversion.
  const from = new Uint8Array(old.u32.buffer);
  const to = new Uint8Array(next.u32.buffer);
  for (let s = 0; s < old.tier.slots; s++) to.set(from.subarray(s * old.words * 4, (s + 1) * old.words * 4), s * next.words * 4);
  return next;
}

function roundUp(n: number): number {
  return Math.min(MAX_SERIES, Math.max(COLUMN_CHUNK, Math.ceil(n / COLUMN_CHUNK) * COLUMN_CHUNK));
}

/** Rounds for the wire: whole numbers from 1000 up, three decimals below. */
function wire(v: number): number {
  return Math.abs(v) >= 1000 ? Math.round(v) : Math.round(v * 1000) / 1000;
}

/**
 * Opens the history kept in `dir` (created if missing; unreadable or mismatched files are
 * started afresh and reported to `onProblem`), or an in-memory one without a directory.
 */
export async function openHistory(dir: string | undefined, options: { tiers?: readonly Tier[]; onProblem?: (what: string) => void } = {}): Promise<History> {
  const tiers = options.tiers ?? TIERS;
  let names: string[] = [];
  let namesSaved = 0;
  let data: TierData[] = [];
  const columnOf = new Map<string, number>();

  const fileOf = (tier: Tier) => join(dir ?? '', `tier-${tier.step / 1000}s.bin`);
  if (dir) {
    await mkdir(dir, { recursive: true });
    const text = await readFile(join(dir, 'series.json'), 'utf8').catch(() => undefined);
    try {
      const parsed: unknown = text === undefined ? [] : JSON.parse(text);
      if (!Array.isArray(parsed) || !parsed.every((n) => typeof n === 'string') || parsed.length > MAX_SERIES) throw new Error('not a list of names');
      names = parsed as string[];
    } catch (error) {
      options.onProblem?.(`series.json: ${(error as Error).message}; history started afresh`);
    }
    namesSaved = names.length;
  }
  names.forEach((n, i) => columnOf.set(n, i));
  const columns = roundUp(names.length);
  data = tiers.map((tier) => allocate(tier, columns));
  if (dir && names.length) {
    for (const [i, tier] of tiers.entries()) {
      const raw = await readFile(fileOf(tier)).catch(() => undefined);
      if (!raw) continue;
      const head = new Uint32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + HEADER_BYTES));
      const fileColumns = head[3] ?? 0;
      const words = 2 + 2 * fileColumns;
      if (raw.length < HEADER_BYTES || head[0] !== MAGIC || head[1] !== tier.step || head[2] !== tier.slots || fileColumns > MAX_SERIES) {
        options.onProblem?.(`${fileOf(tier)}: not a history file of this layout; started afresh`);
        continue;
      }
      if (raw.length !== HEADER_BYTES + tier.slots * words * 4) {
        options.onProblem?.(`${fileOf(tier)}: truncated; started afresh`);
        continue;
      }
      const body = raw.buffer.slice(raw.byteOffset + HEADER_BYTES, raw.byteOffset + raw.length);
      const loaded: TierData = { tier, words, u32: new Uint32Array(body), f32: new Float32Array(body), dirty: new Set(), rewrite: false };
      data[i] = fileColumns === columns ? loaded : widen(loaded, Math.max(columns, roundUp(fileColumns)));
      data[i]!.rewrite = fileColumns !== data[i]!.words / 2 - 1;
    }
  }

  function column(name: string): number | undefined {
    const known = columnOf.get(name);
    if (known !== undefined || names.length >= MAX_SERIES) return known;
    const index = names.length;
    names.push(name);
    columnOf.set(name, index);
    const needed = roundUp(names.length);
    if (needed > data[0]!.words / 2 - 1) data = data.map((d) => widen(d, needed));
    return index;
  }

  function add(t: number, values: Readonly<Record<string, number>>): void {
    const cols: [number, number][] = [];
    for (const [name, v] of Object.entries(values)) {
      const c = column(name);
      if (c !== undefined && Number.isFinite(v)) cols.push([c, v]);
    }
    for (const d of data) {
      const bucket = Math.floor(t / d.tier.step);
      const slot = bucket % d.tier.slots;
      const base = slot * d.words;
      if (d.u32[base] !== bucket) {
        d.f32.fill(NaN, base + 2, base + d.words);
        d.u32[base] = bucket;
        d.u32[base + 1] = 0;
      }
      const n = d.u32[base + 1]!;
      for (const [c, v] of cols) {
        const a = base + 2 + 2 * c;
        const avg = d.f32[a]!;
        d.f32[a] = Number.isNaN(avg) ? v : avg + (v - avg) / (n + 1);
        const max = d.f32[a + 1]!;
        d.f32[a + 1] = Number.isNaN(max) || v > max ? v : max;
      }
      d.u32[base + 1] = n + 1;
      d.dirty.add(slot);
    }
  }

  function query(q: HistoryQuery): HistoryAnswer {
    const now = Date.now();
    const until = Math.min(q.until, now);
    const since = Math.min(q.since, until);
    const wanted = q.resolution ?? 0;
    // Of the tiers that reach back to `since` (the coarsest if none does), the coarsest whose
    // step is not longer than asked, else the finest: buckets then merge up to the resolution.
    const reaching = data.filter((x) => Math.floor(now / x.tier.step) - x.tier.slots < Math.floor(since / x.tier.step));
    const usable = reaching.length ? reaching : [data[data.length - 1]!];
    const d = usable.filter((x) => x.tier.step <= wanted).pop() ?? usable[0]!;
    const { step, slots } = d.tier;
    const chosen = names.map((name, c) => [name, c] as const).filter(([name]) => seriesMatch(name, q.series));
    let first = Math.max(Math.floor(since / step), Math.floor(now / step) - slots + 1);
    const last = Math.floor(until / step);
    const buckets = Math.max(0, last - first + 1);
    // Buckets merged k at a time: for the resolution asked, and to keep the answer one message.
    const k = Math.max(1, Math.ceil(wanted / step), Math.ceil((buckets * chosen.length) / MAX_CELLS), Math.ceil(buckets / (MAX_POINTS - 1)));
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
          const base = (b % slots) * d.words;
          if (d.u32[base] !== b) continue;
          const a = d.f32[base + 2 + 2 * c]!;
          if (Number.isNaN(a)) continue;
          const n = d.u32[base + 1]!;
          sum += a * n;
          weight += n;
          top = Math.max(top, d.f32[base + 3 + 2 * c]!);
        }
        avg.push(weight ? wire(sum / weight) : null);
        max.push(weight ? wire(top) : null);
        seen ||= weight > 0;
      }
      if (seen) series[name] = { avg, max };
    }
    return { start: first * step, step: step * k, series };
  }

  async function save(): Promise<void> {
    if (!dir) return;
    if (names.length !== namesSaved) {
      // Names first: a tier file never names a column series.json does not.
      await atomicWrite(join(dir, 'series.json'), JSON.stringify(names));
      namesSaved = names.length;
    }
    for (const d of data) {
      const bytes = new Uint8Array(d.u32.buffer);
      if (d.rewrite) {
        const head = new Uint32Array([MAGIC, d.tier.step, d.tier.slots, d.words / 2 - 1]);
        await atomicWrite(fileOf(d.tier), Buffer.concat([new Uint8Array(head.buffer), bytes]));
        d.rewrite = false;
        d.dirty.clear();
        continue;
      }
      if (!d.dirty.size) continue;
      const slots = [...d.dirty].sort((a, b) => a - b);
      d.dirty.clear();
      const record = d.words * 4;
      const handle = await open(fileOf(d.tier), 'r+');
      try {
        // Contiguous slots in one write.
        for (let i = 0; i < slots.length;) {
          let j = i;
          while (j + 1 < slots.length && slots[j + 1] === slots[j]! + 1) j++;
          const from = slots[i]! * record;
          await handle.write(bytes, from, (slots[j]! - slots[i]! + 1) * record, HEADER_BYTES + from);
          i = j + 1;
        }
      } finally {
        await handle.close();
      }
    }
  }

  return {
    add,
    query,
    save,
    names: () => names,
    bytes: () => data.reduce((n, d) => n + d.u32.byteLength + HEADER_BYTES, 0),
  };
}

async function atomicWrite(path: string, content: string | Uint8Array): Promise<void> {
  await writeFile(`${path}.tmp`, content, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
