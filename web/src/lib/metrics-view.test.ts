import { describe, expect, test } from 'vitest';
import { appendSample, badness, bounded, chartsOfColumns, columnsOf, healthOf, resolutionFor, sparkPath, worstFirst, type HostHealth } from './metrics-view.ts';
import type { MetricsResult } from '../../../capabilities/metrics/spec.ts';

type History = Extract<MetricsResult, { kind: 'history' }>;
const GIB = 2 ** 30;

function history(series: Record<string, (number | null)[]>, latest?: Record<string, number>): History {
  return {
    kind: 'history',
    interval: 5000,
    start: 1_000_000,
    step: 60_000,
    series: Object.fromEntries(Object.entries(series).map(([k, v]) => [k, { avg: v, max: v }])),
    ...(latest ? { latest: { t: 2_000_000, values: latest, totals: {} } } : {}),
  };
}

describe('metrics views', () => {
  test('the step asked fits the width, never finer than the agent keeps', () => {
    expect(resolutionFor(3_600_000, 1200)).toBe(9000);
    expect(resolutionFor(3_600_000, 100_000)).toBe(5000);
    expect(resolutionFor(30 * 86_400_000, 360)).toBe(21_600_000);
  });

  test('charts: memory and each filesystem as %, network summed over interfaces, leading empty buckets left out', () => {
    const c = chartsOfColumns(
      columnsOf(
        history({
          cpu: [null, 10, 20],
          'mem.used': [null, 1, 2],
          'mem.total': [null, 4, 4],
          'fs:/:used': [null, 9, 9],
          'fs:/:size': [null, 10, 10],
          'net:eth0:rx_Bps': [null, 100, null],
          'net:eth1:rx_Bps': [null, 5, 7],
        }),
      ),
    );
    expect(c.cpu.xs).toEqual([1060, 1120]);
    expect(c.mem.series[0]!.values).toEqual([25, 50]);
    expect(c.disk.series).toEqual([{ name: '/', values: [90, 90] }]);
    expect(c.net.series[0]!.values).toEqual([105, 7]);
    expect(c.net.series[1]!.values).toEqual([null, null]);
  });

  test('a live sample is appended, an old one ignored, and points older than the range dropped', () => {
    const cols = columnsOf(history({ cpu: [1, 2, 3] }));
    appendSample(cols, { t: 1_000_000, values: { cpu: 9 }, totals: {} }, 0);
    expect(cols.ts.length).toBe(3);
    appendSample(cols, { t: 1_200_000, values: { cpu: 4, load1: 1 }, totals: {} }, 1_100_000);
    expect(cols.ts).toEqual([1_120_000, 1_200_000]);
    expect(cols.values['cpu']).toEqual([3, 4]);
    expect(cols.values['load1']).toEqual([null, 1]);
  });

  test('sparkline paths: nulls break the line, a lone point is a dot, values clamped to the box', () => {
    expect(sparkPath([0, 100, null, 50], 30, 10)).toBe('M0.0 10.0h0L10.0 0.0M30.0 5.0h0');
    expect(sparkPath([200], 10, 10)).toBe('M0.0 0.0h0');
    expect(sparkPath([], 10, 10)).toBe('');
  });

  test('per-host data is bounded: 360 points become 60 averages', () => {
    const out = bounded(Array.from({ length: 360 }, (_, i) => (i < 6 ? 1 : null)));
    expect(out.length).toBe(60);
    expect(out[0]).toBe(1);
    expect(out[1]).toBeNull();
  });

  test('health of a host from its latest sample; worst first by CPU or fullest disk, unmeasured hosts last', () => {
    const h = healthOf(
      history({ cpu: [5, 6] }, { cpu: 40, 'mem.used': GIB, 'mem.total': 4 * GIB, 'fs:/:used': 95, 'fs:/:size': 100, 'fs:/b:used': 1, 'fs:/b:size': 10 }),
    );
    expect(h.cpuNow).toBe(40);
    expect(h.memNow).toBe(25);
    expect(h.disks).toEqual([
      { mount: '/', pct: 95 },
      { mount: '/b', pct: 10 },
    ]);
    expect(badness(h)).toBe(95);
    const mk = (cpu: number, disk: number): HostHealth => ({ cpu: [], mem: [], cpuNow: cpu, memNow: 0, disks: [{ mount: '/', pct: disk }], at: 0 });
    const rows = worstFirst([
      { label: 'a-unknown', health: undefined },
      { label: 'b-cool', health: mk(5, 20) },
      { label: 'c-full', health: mk(1, 97) },
      { label: 'd-hot', health: mk(90, 20) },
      { label: 'e-same-disk-hotter', health: mk(30, 20) },
    ]);
    expect(rows.map((r) => r.label)).toEqual(['c-full', 'd-hot', 'e-same-disk-hotter', 'b-cool', 'a-unknown']);
  });
});
