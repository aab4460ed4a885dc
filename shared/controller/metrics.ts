// Host metrics in the controller core, for the CLI and the PWA alike: a history query and a live
// subscription to one host, and the figures a fleet view shows of a sample (CPU, memory, the
// fullest filesystem) or of a series (min, average, max).

import { callOnHost, type HostResult } from './operations.ts';
import type { Controller } from './controller.ts';
import { spec, type MetricsResult, type Sample, type SeriesPoints } from '../../capabilities/metrics/spec.ts';

/** A history query: a range in ms since the epoch (default the last hour), the coarsest step wanted (ms), which series. */
export interface MetricsQuery {
  since?: number;
  until?: number;
  resolution?: number;
  /** Names, or prefixes ending in `*` (`fs:*`); all series when absent. */
  series?: string[];
}

/** Asks one host for its metrics history (and its latest sample). */
export function metricsHistory(controller: Controller, hostId: string, query: MetricsQuery = {}, signal?: AbortSignal): Promise<HostResult<MetricsResult>> {
  return callOnHost(controller, hostId, spec, { action: 'query', ...query }, signal ? { signal } : {});
}

/**
 * Follows one host's samples as the agent takes them (the newest at once), until `signal` aborts;
 * resolves with the host's result (cancelled after an abort).
 */
export function followMetrics(
  controller: Controller,
  hostId: string,
  onSample: (sample: Sample) => void,
  options: { signal?: AbortSignal; series?: string[] } = {},
): Promise<HostResult<MetricsResult>> {
  return callOnHost(
    controller,
    hostId,
    spec,
    { action: 'live', ...(options.series ? { series: options.series } : {}) },
    {
      ...(options.signal ? { signal: options.signal } : {}),
      onEvent: (event) => {
        if (event.type === 'metrics.point') onSample({ t: event.t, values: event.values, totals: event.totals });
      },
    },
  );
}

/** What a fleet view shows of one host: CPU and memory use, and its fullest filesystem. */
export interface Headline {
  /** Busy %, all cores (undefined until the agent has two readings). */
  cpu: number | undefined;
  load1: number | undefined;
  /** Memory in use, % of total. */
  mem: number | undefined;
  /** The fullest filesystem: its mount point and % used. */
  disk: { mount: string; pct: number } | undefined;
  /** Bytes per second received and sent, all interfaces. */
  rx: number;
  tx: number;
}

/** The headline figures of a sample. */
export function headline(sample: Sample): Headline {
  const v = sample.values;
  let disk: Headline['disk'];
  let rx = 0;
  let tx = 0;
  for (const [name, value] of Object.entries(v)) {
    const fs = /^fs:(.*):used$/.exec(name);
    if (fs) {
      const size = v[`fs:${fs[1]}:size`];
      const pct = size ? (100 * value) / size : 0;
      if (!disk || pct > disk.pct) disk = { mount: fs[1]!, pct };
    } else if (/^net:.*:rx_Bps$/.test(name)) rx += value;
    else if (/^net:.*:tx_Bps$/.test(name)) tx += value;
  }
  const total = v['mem.total'];
  return {
    cpu: v['cpu'],
    load1: v['load1'],
    mem: total && v['mem.used'] !== undefined ? (100 * v['mem.used']) / total : undefined,
    disk,
    rx,
    tx,
  };
}

/** Min of the bucket averages, the average over the range, and the max of the bucket maxima. */
export function summarize(points: SeriesPoints): { min: number; avg: number; max: number } | undefined {
  const avgs = points.avg.filter((x): x is number => x !== null);
  const maxes = points.max.filter((x): x is number => x !== null);
  if (!avgs.length) return undefined;
  return { min: Math.min(...avgs), avg: avgs.reduce((a, b) => a + b, 0) / avgs.length, max: Math.max(...maxes) };
}
