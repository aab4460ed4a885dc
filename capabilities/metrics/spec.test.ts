import { describe, it, expect } from 'vitest';
import { MAX_CELLS, MAX_SAMPLE_VALUES, seriesMatch, spec } from './spec.ts';
import { renderTop, type TopRow } from './top.ts';
import { formatValue } from './format.ts';
import { headline, summarize } from '../../shared/controller/metrics.ts';

const history = (series: Record<string, unknown>) => ({ kind: 'history', interval: 5000, start: 0, step: 5000, series });

describe('the metrics spec', () => {
  it('parses queries and live requests, and refuses an unknown action or a resolution under a second', () => {
    expect(spec.request.parse({ action: 'query', since: 1, resolution: 60_000, series: ['fs:*'] })).toEqual({
      action: 'query',
      since: 1,
      resolution: 60_000,
      series: ['fs:*'],
    });
    expect(spec.request.parse({ action: 'live' })).toEqual({ action: 'live' });
    expect(() => spec.request.parse({ action: 'delete' })).toThrow(/action: expected one of query, live/);
    expect(() => spec.request.parse({ action: 'query', resolution: 10 })).toThrow(/resolution: out of range/);
  });

  it('refuses answers that are malformed or unbounded, naming the field', () => {
    expect(() => spec.result(history({ cpu: { avg: [1, 'x'], max: [1, 2] } }))).toThrow(/series\.cpu\.avg\[1\]: expected a number or null/);
    expect(() => spec.result(history({ cpu: { avg: [1], max: [] } }))).toThrow(/avg and max differ/);
    const wide = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`s${i}`, { avg: Array(1000).fill(1), max: Array(1000).fill(1) }]));
    expect(() => spec.result(history(wide))).toThrow(new RegExp(`more than ${MAX_CELLS} points`));
    const many = Object.fromEntries(Array.from({ length: MAX_SAMPLE_VALUES + 1 }, (_, i) => [`v${i}`, i]));
    expect(() => spec.events!['metrics.point']({ t: 1, values: many, totals: {} })).toThrow(/values: more than 1024 entries/);
    expect(() => spec.events!['metrics.point']({ t: 1, values: { cpu: Infinity }, totals: {} })).toThrow(/values\.cpu: expected a number/);
    expect(spec.result({ kind: 'live', points: 3 })).toEqual({ kind: 'live', points: 3 });
  });

  it('matches series by name or by a prefix ending in *', () => {
    expect(seriesMatch('fs:/:used', ['fs:*'])).toBe(true);
    expect(seriesMatch('cpu.iowait', ['cpu'])).toBe(false);
    expect(seriesMatch('anything', undefined)).toBe(true);
  });
});

describe('fleet figures', () => {
  it('takes CPU, memory %, the fullest filesystem and network totals from a sample', () => {
    const h = headline({
      t: 1,
      values: {
        cpu: 42,
        'mem.used': 25,
        'mem.total': 100,
        'fs:/:used': 50,
        'fs:/:size': 100,
        'fs:/data:used': 95,
        'fs:/data:size': 100,
        'net:eth0:rx_Bps': 10,
        'net:eth1:rx_Bps': 5,
        'net:eth0:tx_Bps': 1,
      },
      totals: {},
    });
    expect(h).toEqual({ cpu: 42, load1: undefined, mem: 25, disk: { mount: '/data', pct: 95 }, rx: 15, tx: 1 });
    expect(summarize({ avg: [1, null, 3], max: [2, null, 9] })).toEqual({ min: 1, avg: 2, max: 9 });
    expect(summarize({ avg: [null], max: [null] })).toBeUndefined();
  });

  it('top sorts hosts with figures by the chosen key, highest first, then those without', () => {
    const f = (cpu: number, mem: number, disk: number) => ({ cpu, load1: 0, mem, disk: { mount: '/', pct: disk }, rx: 0, tx: 0 });
    const rows: TopRow[] = [
      { name: 'idle', status: 'live', figures: f(1, 90, 10) },
      { name: 'down', status: 'offline' },
      { name: 'busy', status: 'live', figures: f(99, 10, 50) },
      { name: 'full', status: 'live', figures: f(50, 20, 97) },
    ];
    const order = (text: string) =>
      text
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0]);
    expect(order(renderTop(rows, 'cpu'))).toEqual(['busy', 'full', 'idle', 'down']);
    expect(order(renderTop(rows, 'mem'))).toEqual(['idle', 'full', 'busy', 'down']);
    expect(order(renderTop(rows, 'disk'))).toEqual(['full', 'busy', 'idle', 'down']);
    expect(renderTop(rows, 'mem').split('\n')[0]).toMatch(/MEM%▼/);
  });

  it('formats values by their kind', () => {
    expect(formatValue('mem.used', 3 * 1024 ** 3)).toBe('3.0G');
    expect(formatValue('net:eth0:rx_Bps', 1536)).toBe('1.5K/s');
    expect(formatValue('cpu', 12.345)).toBe('12.3%');
    expect(formatValue('temp:cpu.0', 41.5)).toBe('41.5°C');
    expect(formatValue('procs', 120)).toBe('120');
  });
});
