import { describe, it, expect, afterEach } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openHistory, TIERS } from './history.ts';
import { MAX_CELLS, MAX_SERIES, spec } from './spec.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-history-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A time `ago` ms before now, at the start of a 10-minute bucket (so buckets of every tier line up). */
function aligned(ago: number): number {
  return Math.floor((Date.now() - ago) / 600_000) * 600_000;
}

describe('the metrics history', () => {
  it('keeps the average and the maximum of each bucket, weighted by samples when buckets merge', async () => {
    const h = await openHistory(undefined);
    const t0 = aligned(30 * 60_000);
    // Two samples in the first 5 s bucket, one in the next.
    h.add(t0, { cpu: 10 });
    h.add(t0 + 1000, { cpu: 30 });
    h.add(t0 + 5000, { cpu: 50 });
    const fine = h.query({ since: t0, until: t0 + 9999 });
    expect(fine.step).toBe(5000);
    expect(fine.start).toBe(t0);
    expect(fine.series['cpu']).toEqual({ avg: [20, 50], max: [30, 50] });
    // A 10 s resolution merges the two: (10 + 30 + 50) / 3, max 50.
    const merged = h.query({ since: t0, until: t0 + 9999, resolution: 10_000 });
    expect(merged.step).toBe(10_000);
    expect(merged.series['cpu']!.avg[0]).toBe(30);
    expect(merged.series['cpu']!.max[0]).toBe(50);
    // The minute tier holds the same samples in one bucket.
    const minute = h.query({ since: t0, until: t0 + 59_999, resolution: 60_000 });
    expect(minute).toMatchObject({ step: 60_000, series: { cpu: { avg: [30], max: [50] } } });
  });

  it('answers older ranges from coarser tiers: 5 s for an hour, 1 min for a day, 10 min for 30 days', async () => {
    const h = await openHistory(undefined);
    for (const ago of [10 * 60_000, 3 * 3_600_000, 10 * 86_400_000]) h.add(aligned(ago), { load1: ago / 60_000 });
    expect(h.query({ since: aligned(10 * 60_000), until: Date.now(), series: ['load1'] }).step).toBeGreaterThanOrEqual(5000);
    expect(h.query({ since: aligned(10 * 60_000), until: Date.now() }).step).toBeLessThan(60_000);
    expect(h.query({ since: aligned(3 * 3_600_000), until: Date.now() }).step).toBe(60_000);
    const month = h.query({ since: Date.now() - 30 * 86_400_000, until: Date.now() });
    expect(month.step).toBe(600_000);
    expect(month.series['load1']!.avg.filter((v) => v !== null)).toEqual([14400, 180, 10]);
    // A bucket a tier's ring has wrapped over is gone, not mistaken for a new one.
    expect(h.query({ since: aligned(3 * 3_600_000), until: aligned(3 * 3_600_000) + 1 }).series['load1']?.avg ?? []).toEqual([180]);
  });

  it('coarsens a wide answer to stay one message, and the spec accepts what it gives', async () => {
    const h = await openHistory(undefined);
    const t0 = Date.now() - 3_600_000 + 5000;
    const values = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`core:${i}`, i]));
    for (let t = t0; t < Date.now(); t += 5000) h.add(t, values);
    const answer = h.query({ since: t0, until: Date.now() });
    const cells = Object.values(answer.series).reduce((n, s) => n + s.avg.length, 0);
    expect(cells).toBeLessThanOrEqual(MAX_CELLS);
    expect(answer.step).toBeGreaterThan(5000);
    const data = { kind: 'history', interval: 5000, ...answer };
    expect(JSON.stringify(data).length).toBeLessThan(256 * 1024);
    expect(spec.result(JSON.parse(JSON.stringify(data)) as Record<string, unknown>)).toMatchObject({ kind: 'history', step: answer.step });
  });

  it('keeps at most MAX_SERIES series, and its files stay under 10 MiB', async () => {
    const dir = await tempDir();
    const h = await openHistory(dir);
    const values = Object.fromEntries(Array.from({ length: MAX_SERIES + 50 }, (_, i) => [`s${i}`, i]));
    h.add(Date.now(), values);
    expect(h.names()).toHaveLength(MAX_SERIES);
    await h.save();
    let total = 0;
    for (const tier of TIERS) total += (await stat(join(dir, `tier-${tier.step / 1000}s.bin`))).size;
    expect(total).toBe(h.bytes());
    expect(total).toBeLessThanOrEqual(10 * 1024 * 1024);
  });

  it('survives a restart: saved buckets, changed ones written in place, and new series after a reload', async () => {
    const dir = await tempDir();
    const t0 = aligned(20 * 60_000);
    const first = await openHistory(dir);
    first.add(t0, { cpu: 12.5, 'mem.used': 3e9 });
    await first.save();
    first.add(t0 + 5000, { cpu: 40 }); // written in place by the next save
    await first.save();
    const second = await openHistory(dir);
    expect(second.query({ since: t0, until: t0 + 9999 }).series).toEqual({
      cpu: { avg: [12.5, 40], max: [12.5, 40] },
      'mem.used': { avg: [3e9, null], max: [3e9, null] },
    });
    // More series than the files have columns: they widen, and the old values are still there.
    second.add(t0 + 10_000, Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`net:eth${i}:rx_Bps`, i])));
    await second.save();
    const third = await openHistory(dir);
    const q = third.query({ since: t0, until: t0 + 14_999 });
    expect(q.series['cpu']!.avg).toEqual([12.5, 40, null]);
    expect(q.series['net:eth29:rx_Bps']!.avg).toEqual([null, null, 29]);
  });

  it('goes on filling the current bucket after a restart', async () => {
    const dir = await tempDir();
    // Not across a 10-minute boundary between the two samples.
    if (Date.now() % 600_000 > 590_000) await new Promise((r) => setTimeout(r, 600_000 - (Date.now() % 600_000) + 100));
    const first = await openHistory(dir);
    first.add(Date.now(), { cpu: 10 });
    await first.save();
    first.close();
    const second = await openHistory(dir);
    second.add(Date.now(), { cpu: 30 });
    const bucket = Math.floor(Date.now() / 600_000) * 600_000;
    expect(second.query({ since: bucket, until: Date.now(), resolution: 600_000 }).series['cpu']).toEqual({ avg: [20], max: [30] });
  });

  it('starts afresh, saying so, when a file is damaged', async () => {
    const dir = await tempDir();
    const h = await openHistory(dir);
    h.add(aligned(60_000), { cpu: 1 });
    await h.save();
    const file = join(dir, 'tier-5s.bin');
    await writeFile(file, (await readFile(file)).subarray(0, 100));
    await writeFile(join(dir, 'series.json'), '{"not": "a list"}');
    const problems: string[] = [];
    const again = await openHistory(dir, { onProblem: (p) => problems.push(p) });
    expect(problems.join('\n')).toMatch(/series\.json: not a list of names; history started afresh/);
    expect(again.query({ since: aligned(60_000), until: Date.now() }).series).toEqual({});
    const names = await openHistory(dir);
    names.add(aligned(60_000), { cpu: 2 });
    await names.save();
    await writeFile(file, (await readFile(file)).subarray(0, 100));
    const truncated: string[] = [];
    await openHistory(dir, { onProblem: (p) => truncated.push(p) });
    expect(truncated.join('\n')).toMatch(/tier-5s\.bin: truncated; started afresh/);
  });
});
