// metrics: the host's CPU, load, memory, filesystems, disk and network I/O, processes, uptime and
// temperatures, sampled by the agent every few seconds whether or not anyone is connected, kept
// in a bounded round-robin history on the agent, queried by range and resolution or followed live.
import { defineCapability } from '../spec.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { int, isObj, obj, oneOf, optInt, optional, strArray, type Obj } from '../../shared/wire/validate.ts';

/** Most devices of one kind (filesystems, disks, interfaces, sensors) a sample carries. */
export const MAX_DEVICES = 32;
/** Most values one sample carries (cores, and per device four or five series). */
export const MAX_SAMPLE_VALUES = 1024;
/** Longest series name (`fs:<mount point>:inodes_used`). */
export const MAX_SERIES_NAME = 256;
/** Most series the history keeps (the file stays under 10 MiB: see history.ts). */
export const MAX_SERIES = 200;
/** Most points of one series in a history answer (30 days of 10-minute buckets, and one). */
export const MAX_POINTS = 4321;
/**
 * Most points × series in one history answer: the answer is one JSON message (at most 256 KiB),
 * so a wide query comes back at a coarser step rather than refused.
 */
export const MAX_CELLS = 7000;
/** Most series patterns one request names. */
const MAX_PATTERNS = 64;

/** One reading of the host. */
export interface Sample {
  /** When it was taken, ms since the epoch. */
  t: number;
  /**
   * Levels and rates by series name: `cpu`, `cpu.iowait`, `cpu.steal`, `core:<n>` (busy %),
   * `load1|5|15`, `mem.total|used|available`, `swap.total|used` (bytes), `fs:<mount>:used|size|
   * inodes_used|inodes`, `disk:<dev>:read_Bps|write_Bps|busy`, `net:<if>:rx_Bps|tx_Bps|rx_pps|
   * tx_pps|errors_ps`, `procs`, `uptime` (s), `temp:<sensor>` (°C).
   */
  values: Record<string, number>;
  /** Cumulative counters since boot: `net:<if>:rx_bytes|tx_bytes|rx_packets|tx_packets|errors|drops`, `disk:<dev>:read_bytes|write_bytes`. */
  totals: Record<string, number>;
}

/** One series of a history answer: per bucket the average and the maximum, null where nothing was sampled. */
export interface SeriesPoints {
  avg: (number | null)[];
  max: (number | null)[];
}

export type MetricsRequest =
  { action: 'query'; since?: number; until?: number; resolution?: number; series?: string[] } | { action: 'live'; series?: string[] };

export type MetricsResult =
  | {
      kind: 'history';
      /** The agent's sampling interval, ms. */
      interval: number;
      /** Start of the first bucket and the bucket length, ms: bucket i starts at start + i × step. */
      start: number;
      step: number;
      series: Record<string, SeriesPoints>;
      /** The newest sample (levels now), filtered like the series. */
      latest?: Sample;
    }
  | { kind: 'live'; points: number };

function fail(field: string, what: string): never {
  throw new FlotillaError('bad-message', `${field}: ${what}`);
}

/** A map of series name → finite number, bounded. */
function numberMap(raw: unknown, field: string, max: number): Record<string, number> {
  if (!isObj(raw)) fail(field, 'expected an object of numbers');
  const entries = Object.entries(raw);
  if (entries.length > max) fail(field, `more than ${max} entries`);
  const out: Record<string, number> = {};
  for (const [k, v] of entries) {
    if (k.length > MAX_SERIES_NAME) fail(field, `a name longer than ${MAX_SERIES_NAME} characters`);
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${field}.${k}`, 'expected a number');
    out[k] = v;
  }
  return out;
}

/** Validates a sample (a live event, or the latest in a history answer). */
export function parseSample(o: Obj): Sample {
  return { t: int(o, 't'), values: numberMap(o['values'], 'values', MAX_SAMPLE_VALUES), totals: numberMap(o['totals'], 'totals', MAX_SAMPLE_VALUES) };
}

function points(raw: unknown, field: string): (number | null)[] {
  if (!Array.isArray(raw) || raw.length > MAX_POINTS) fail(field, `expected a list of at most ${MAX_POINTS} points`);
  return raw.map((v, i) => {
    if (v !== null && (typeof v !== 'number' || !Number.isFinite(v))) fail(`${field}[${i}]`, 'expected a number or null');
    return v as number | null;
  });
}

function parseSeries(raw: unknown): Record<string, SeriesPoints> {
  const o = obj(raw, 'series');
  const entries = Object.entries(o);
  if (entries.length > MAX_SERIES) fail('series', `more than ${MAX_SERIES} series`);
  const out: Record<string, SeriesPoints> = {};
  let cells = 0;
  for (const [name, value] of entries) {
    if (name.length > MAX_SERIES_NAME) fail('series', `a name longer than ${MAX_SERIES_NAME} characters`);
    const s = obj(value, `series.${name}`);
    const avg = points(s['avg'], `series.${name}.avg`);
    const max = points(s['max'], `series.${name}.max`);
    if (avg.length !== max.length) fail(`series.${name}`, 'avg and max differ in length');
    cells += avg.length;
    if (cells > MAX_CELLS) fail('series', `more than ${MAX_CELLS} points in all`);
    out[name] = { avg, max };
  }
  return out;
}

function patterns(o: Obj): string[] | undefined {
  return o['series'] === undefined ? undefined : strArray(o, 'series', MAX_PATTERNS, MAX_SERIES_NAME);
}

/** True when `name` is one of `patterns` (exact, or a prefix ending in `*`); everything without patterns. */
export function seriesMatch(name: string, list: readonly string[] | undefined): boolean {
  return !list?.length || list.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

const DAY = 86_400_000;

export const spec = defineCapability({
  name: 'metrics',
  doc: 'host metrics (CPU, load, memory, filesystems, disk and network I/O, temperatures): history by range and resolution, or live points',
  request: {
    type: 'metrics',
    parse: (o): MetricsRequest =>
      oneOf(o, 'action', ['query', 'live'] as const) === 'query'
        ? {
            action: 'query',
            ...optional('since', optInt(o, 'since')),
            ...optional('until', optInt(o, 'until')),
            ...optional('resolution', optInt(o, 'resolution', 1000, DAY)),
            ...optional('series', patterns(o)),
          }
        : { action: 'live', ...optional('series', patterns(o)) },
  },
  events: { 'metrics.point': (o) => parseSample(o) },
  result: (d: Obj): MetricsResult =>
    d['kind'] === 'live'
      ? { kind: 'live', points: int(d, 'points') }
      : {
          kind: 'history',
          interval: int(d, 'interval', 1000, 60_000),
          start: int(d, 'start'),
          step: int(d, 'step', 1000, 31 * DAY),
          series: parseSeries(d['series']),
          ...optional('latest', d['latest'] === undefined ? undefined : parseSample(obj(d['latest'], 'latest'))),
        },
  role: 'viewer',
  web: { hostTab: { label: 'Metrics', order: 5 } },
  traits: { audit: (r) => (r.action === 'live' ? 'live' : `query ${r.since ?? ''}..${r.until ?? ''}`) },
  cli: [
    {
      name: 'metrics',
      usage: [
        'metrics <selector> [--since 1h] [--series PATTERN]',
        'latest CPU, memory, disks and network per host; with --since, min/avg/max of each series',
        '(--json: the series themselves; PATTERN is a name or a prefix ending in *, as fs:*)',
      ],
      options: { since: { type: 'string' }, series: { type: 'string', multiple: true } },
    },
    { name: 'top', usage: ['top <selector>', 'a live table of hosts sorted by CPU (keys: c cpu, m memory, d disk, q quit)'] },
  ],
});
