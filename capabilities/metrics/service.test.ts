import { describe, it, expect } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricsService, startMetrics } from './service.ts';

describe('the metrics service', () => {
  it('samples at once, keeps history and saves it at stop; a state directory it cannot write leaves it in memory, said once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-metrics-service-'));
    try {
      const logs: string[] = [];
      const service = await startMetrics({ stateDir: dir, intervalSeconds: 60, log: (_level, event) => logs.push(event) });
      expect(metricsService()).toBe(service);
      expect(service.latest()?.values['mem.total']).toBeGreaterThan(0);
      expect(service.history.names()).toContain('mem.total');
      await service.stop();
      expect(metricsService()).toBeUndefined();
      const again = await startMetrics({ stateDir: dir, intervalSeconds: 60, log: (_level, event) => logs.push(event) });
      expect(again.history.query({ since: Date.now() - 60_000, until: Date.now(), series: ['mem.total'] }).series['mem.total']).toBeDefined();
      await again.stop();
      expect(logs).toEqual([]);

      // `metrics` under the state directory is a file: no history on disk, but the agent goes on.
      const blocked = join(dir, 'blocked');
      await writeFile(blocked, 'not a directory');
      const inMemory = await startMetrics({ stateDir: join(blocked, 'x'), intervalSeconds: 60, log: (_level, event) => logs.push(event) });
      expect(logs).toEqual(['metrics-history-in-memory']);
      expect(inMemory.latest()).toBeDefined();
      await inMemory.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
