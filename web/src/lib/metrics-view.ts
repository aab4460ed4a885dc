// The PWA's views of host metrics: the host page's chart series (CPU, memory, each filesystem's
// use, network in and out) built from a history answer and live samples, and the dashboard's
// sparkline paths and "worst first" order. Pure functions, no Svelte, no uPlot.

import type { MetricsResult, Sample } from '../../../capabilities/metrics/spec.ts';

/** The ranges the metrics tab offers, in ms. */
export const RANGES = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 } as const;
export type RangeName = keyof typeof RANGES;

/** The series the metrics tab asks for (not the per-core, inode, disk I/O or packet series). */
export const CHART_SERIES = ['cpu', 'mem.used', 'mem.total', 'fs:*', 'net:*'];

/** The agent's finest history step (5 s) and the fewest pixels a point gets. */
const FINEST_MS = 5_000;
const PX_PER_POINT = 3;

/** The step to ask for: one point per few pixels of a chart `width` px wide over `rangeMs`. */
export function resolutionFor(rangeMs: number, width: number): number {
  const points = Math.max(30, Math.floor(Math.max(width, 100) / PX_PER_POINT));
  return Math.max(FINEST_MS, Math.ceil(rangeMs / points / 1000) * 1000);
}

type Cell = number | null;

/** One chart: its x values (seconds since the epoch, as uPlot wants) and its named series. */
export interface ChartData {
  xs: number[];
  series: { name: string; values: Cell[] }[];
}

/** The four charts of the metrics tab. */
export interface HostCharts {
  cpu: ChartData;
  mem: ChartData;
  disk: ChartData;
  net: ChartData;
}

const pct = (used: Cell | undefined, total: Cell | undefined): Cell => (used == null || !total ? null : (100 * used) / total);

/** Mount points of the `fs:<mount>:used` names among `names`, sorted. */
function mounts(names: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const n of names) {
    const m = /^fs:(.*):used$/.exec(n);
    if (m) out.add(m[1]!);
  }
  return [...out].sort();
}

function sumOf(values: Record<string, Cell[]>, suffix: string, length: number): Cell[] {
  const keys = Object.keys(values).filter((k) => k.startsWith('net:') && k.endsWith(suffix));
  return Array.from({ length }, (_, i) => {
    let total: number | null = null;
    for (const k of keys) {
      const v = values[k]![i];
      if (v != null) total = (total ?? 0) + v;
    }
    return total;
  });
}

/** Charts from columns of raw series values at times `ts` (ms). */
function chartsOf(ts: number[], values: Record<string, Cell[]>): HostCharts {
  const xs = ts.map((t) => t / 1000);
  const col = (name: string) => values[name] ?? ts.map(() => null);
  const total = col('mem.total');
  const used = col('mem.used');
  return {
    cpu: { xs, series: [{ name: 'CPU %', values: col('cpu') }] },
    mem: { xs, series: [{ name: 'Memory %', values: used.map((u, i) => pct(u, total[i])) }] },
    disk: {
      xs,
      series: mounts(Object.keys(values)).map((m) => {
        const size = col(`fs:${m}:size`);
        return { name: m, values: col(`fs:${m}:used`).map((u, i) => pct(u, size[i])) };
      }),
    },
    net: {
      xs,
      series: [
        { name: 'In', values: sumOf(values, ':rx_Bps', ts.length) },
        { name: 'Out', values: sumOf(values, ':tx_Bps', ts.length) },
      ],
    },
  };
}

/** Columns of a history answer (bucket averages) and their times. */
export interface Columns {
  ts: number[];
  values: Record<string, Cell[]>;
}

export function columnsOf(result: Extract<MetricsResult, { kind: 'history' }>): Columns {
  const values: Record<string, Cell[]> = {};
  let length = 0;
  for (const [name, s] of Object.entries(result.series)) {
    values[name] = s.avg.slice();
    length = Math.max(length, s.avg.length);
  }
  // Buckets before the agent's first sample are left out: a host with ten minutes of history
  // gets a chart of those ten minutes, not a dot at the edge of an empty hour.
  const lists = Object.values(values);
  let first = 0;
  while (first < length && lists.every((l) => l[first] == null)) first++;
  for (const l of lists) l.splice(0, first);
  return { ts: Array.from({ length: length - first }, (_, i) => result.start + (first + i) * result.step), values };
}

/**
 * Adds a live sample to `columns` (in place), and drops what is older than `since` (ms), so a tab
 * left open keeps one range's worth of points. A sample not newer than the last point is ignored.
 */
export function appendSample(columns: Columns, sample: Sample, since: number): void {
  const last = columns.ts[columns.ts.length - 1];
  if (last !== undefined && sample.t <= last) return;
  const length = columns.ts.length;
  columns.ts.push(sample.t);
  for (const name of Object.keys(sample.values)) if (!columns.values[name]) columns.values[name] = new Array<Cell>(length).fill(null);
  for (const [name, list] of Object.entries(columns.values)) list.push(sample.values[name] ?? null);
  let drop = 0;
  while (drop < columns.ts.length - 1 && columns.ts[drop]! < since) drop++;
  if (drop) {
    columns.ts.splice(0, drop);
    for (const list of Object.values(columns.values)) list.splice(0, drop);
  }
}

export function chartsOfColumns(columns: Columns): HostCharts {
  return chartsOf(columns.ts, columns.values);
}

/** The newest non-null value of a series, or undefined. */
export function lastValue(values: readonly Cell[]): number | undefined {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i]!;
  return undefined;
}

/** An SVG path of `values` (nulls break the line) in a `width` × `height` box, y from `min` to `max`. */
export function sparkPath(values: readonly Cell[], width: number, height: number, min = 0, max = 100): string {
  if (values.length === 0) return '';
  const dx = values.length > 1 ? width / (values.length - 1) : 0;
  const span = max - min || 1;
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v == null) {
      pen = false;
      return;
    }
    const y = height - (Math.min(max, Math.max(min, v)) - min) * (height / span);
    // A lone point (a line's start) gets a zero-length segment: round caps draw it as a dot.
    d += pen ? `L${(i * dx).toFixed(1)} ${y.toFixed(1)}` : `M${(i * dx).toFixed(1)} ${y.toFixed(1)}h0`;
    pen = true;
  });
  return d;
}

/** A host as the dashboard lists it. */
export interface HealthHost {
  id: string;
  label: string;
  online: boolean;
  lastSeen: number;
}

/** What the dashboard keeps of one host: at most `SPARK_POINTS` points per sparkline. */
export interface HostHealth {
  cpu: Cell[];
  mem: Cell[];
  cpuNow: number | undefined;
  memNow: number | undefined;
  /** Every filesystem's use, fullest first. */
  disks: { mount: string; pct: number }[];
  at: number;
}

export const SPARK_POINTS = 60;

/** Downsamples to at most `n` points (the average of each group), so per-host data stays bounded. */
export function bounded(values: readonly Cell[], n = SPARK_POINTS): Cell[] {
  if (values.length <= n) return values.slice();
  const out: Cell[] = [];
  for (let i = 0; i < n; i++) {
    const group = values.slice(Math.floor((i * values.length) / n), Math.floor(((i + 1) * values.length) / n)).filter((v): v is number => v != null);
    out.push(group.length ? group.reduce((a, b) => a + b, 0) / group.length : null);
  }
  return out;
}

/** The dashboard's figures of a host from its history answer (the last hour, coarse). */
export function healthOf(result: Extract<MetricsResult, { kind: 'history' }>, now = Date.now()): HostHealth {
  const charts = chartsOfColumns(columnsOf(result));
  const cpu = bounded(charts.cpu.series[0]!.values);
  const mem = bounded(charts.mem.series[0]!.values);
  const v = result.latest?.values ?? {};
  const latestMounts = mounts(Object.keys(v));
  const disks = (latestMounts.length ? latestMounts.map((m) => ({ mount: m, pct: pct(v[`fs:${m}:used`], v[`fs:${m}:size`]) })) : [])
    .concat(latestMounts.length ? [] : charts.disk.series.map((s) => ({ mount: s.name, pct: lastValue(s.values) ?? null })))
    .filter((d): d is { mount: string; pct: number } => d.pct != null)
    .sort((a, b) => b.pct - a.pct);
  return {
    cpu,
    mem,
    cpuNow: v['cpu'] ?? lastValue(cpu),
    memNow: pct(v['mem.used'], v['mem.total']) ?? lastValue(mem),
    disks,
    at: now,
  };
}

/** How bad a host looks: its CPU % or its fullest disk's %, whichever is higher; undefined when not known yet. */
export function badness(h: HostHealth | undefined): number | undefined {
  if (!h) return undefined;
  const figures = [h.cpuNow, h.disks[0]?.pct].filter((x): x is number => x !== undefined);
  return figures.length ? Math.max(...figures) : undefined;
}

/** Worst first: by badness, then CPU, then name; hosts not measured yet after those that are. */
export function worstFirst<T extends { label: string; health: HostHealth | undefined }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => {
    const x = badness(a.health);
    const y = badness(b.health);
    if (x === undefined || y === undefined) return x === y ? a.label.localeCompare(b.label) : x === undefined ? 1 : -1;
    return y - x || (b.health!.cpuNow ?? 0) - (a.health!.cpuNow ?? 0) || a.label.localeCompare(b.label);
  });
}

/** Disks at or over this % used are called out. */
export const DISK_ALERT = 90;
