import { describe, it, expect } from 'vitest';
import { FlotillaError } from '../wire/errors.ts';
import { parseRollingOptions, planBatches, runRolling, type RollingFlags } from './rolling.ts';

const hosts = Array.from({ length: 10 }, (_, i) => `h${i}`);

// Work that records the order hosts start in and fails the chosen ones; each settles on a later tick.
function fleetWork(failing: ReadonlySet<string>) {
  const started: string[] = [];
  const work = async (id: string) => {
    started.push(id);
    await new Promise((resolve) => setImmediate(resolve));
    return { status: failing.has(id) ? 'failed' : 'ok' };
  };
  return { started, work };
}

function usageError(flags: RollingFlags): string | undefined {
  try {
    parseRollingOptions(flags);
  } catch (error) {
    if (error instanceof FlotillaError && error.code === 'usage') return error.detail;
    throw error;
  }
  throw new Error(`${JSON.stringify(flags)} was accepted`);
}

describe('runRolling', () => {
  it('--canary 1 --batch 3 --max-fail 1 with two failing hosts: stops after the batch that crossed the limit', async () => {
    const options = parseRollingOptions({ canary: '1', batch: '3', 'max-fail': '1' });
    const { started, work } = fleetWork(new Set(['h2', 'h5']));
    const seen: string[][] = [];
    const report = await runRolling(hosts, options, work, { onBatch: (_i, ids) => seen.push([...ids]) });
    expect(seen).toEqual([['h0'], ['h1', 'h2', 'h3'], ['h4', 'h5', 'h6']]);
    expect(report.batches).toEqual(seen);
    expect(started).toEqual(['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
    expect(report.failed).toEqual(['h2', 'h5']);
    expect(report.notStarted).toEqual(['h7', 'h8', 'h9']);
    expect(report.stopped).toEqual({
      reason: 'max-fail',
      message: '2 of 10 hosts failed, more than --max-fail 1 allows; stopped after batch 3 of 4',
    });
    expect([...report.results.keys()]).toEqual(started);
  });

  it('counts percentages of every host targeted', async () => {
    // 25% of 10 is 3 hosts a batch (rounded up); 10% of 10 allows 1 failure.
    const options = parseRollingOptions({ batch: '25%', 'max-fail': '10%' });
    expect(planBatches(hosts, options)).toEqual([['h0', 'h1', 'h2'], ['h3', 'h4', 'h5'], ['h6', 'h7', 'h8'], ['h9']]);
    const { work } = fleetWork(new Set(['h1', 'h4']));
    const report = await runRolling(hosts, options, work);
    expect(report.notStarted).toEqual(['h6', 'h7', 'h8', 'h9']);
    expect(report.stopped?.message).toBe('2 of 10 hosts failed, more than --max-fail 10% of 10 allows; stopped after batch 2 of 4');
    // 20% allows 2 failures: the same run goes to the end.
    const lenient = await runRolling(hosts, parseRollingOptions({ batch: '25%', 'max-fail': '20%' }), fleetWork(new Set(['h1', 'h4'])).work);
    expect(lenient.stopped).toBeUndefined();
    expect(lenient.notStarted).toEqual([]);
    expect(lenient.batches).toHaveLength(4);
  });

  it('runs everything in one batch without options, failures or not', async () => {
    const options = parseRollingOptions({});
    expect(options).toEqual({});
    const { started, work } = fleetWork(new Set(hosts));
    const report = await runRolling(hosts, options, work);
    expect(report.batches).toEqual([hosts]);
    expect(started).toEqual(hosts);
    expect(report.failed).toEqual(hosts);
    expect(report.stopped).toBeUndefined();
  });

  it('stops after a failing canary when no --max-fail is given', async () => {
    const { started, work } = fleetWork(new Set(['h0']));
    const report = await runRolling(hosts, parseRollingOptions({ canary: '1', batch: '5' }), work);
    expect(started).toEqual(['h0']);
    expect(report.notStarted).toEqual(hosts.slice(1));
    expect(report.stopped).toEqual({
      reason: 'canary-failed',
      message: 'the canary host failed (1 of 1); the other hosts were not started (give --max-fail to go on despite it)',
    });
    const tolerant = await runRolling(hosts, parseRollingOptions({ canary: '1', batch: '5', 'max-fail': '1' }), fleetWork(new Set(['h0'])).work);
    expect(tolerant.notStarted).toEqual([]);
  });

  it('counts a thrown error as a failure', async () => {
    const report = await runRolling(['a', 'b', 'c'], parseRollingOptions({ batch: '1', 'max-fail': '0' }), async (id) => {
      if (id === 'a') throw new Error('boom');
      return { status: 'ok' };
    });
    expect(report.failed).toEqual(['a']);
    expect((report.errors.get('a') as Error).message).toBe('boom');
    expect(report.notStarted).toEqual(['b', 'c']);
  });

  it('waits batchWait between batches, not before the first or after the last', async () => {
    const waits: number[] = [];
    const order: string[] = [];
    const sleep = async (ms: number) => void (waits.push(ms), order.push(`wait ${ms}`));
    await runRolling(
      hosts.slice(0, 5),
      parseRollingOptions({ canary: '1', batch: '2', 'batch-wait': '1.5s' }),
      async (id) => (order.push(id), { status: 'ok' }),
      { sleep },
    );
    expect(order).toEqual(['h0', 'wait 1500', 'h1', 'h2', 'wait 1500', 'h3', 'h4']);
  });

  it('stops starting batches when aborted, during the wait as well', async () => {
    const controller = new AbortController();
    const started: string[] = [];
    const report = await runRolling(
      hosts,
      parseRollingOptions({ batch: '2', 'batch-wait': '1h' }),
      async (id) => {
        started.push(id);
        if (id === 'h1') setTimeout(() => controller.abort(), 5);
        return { status: 'ok' };
      },
      { signal: controller.signal },
    );
    // The real timer would wait an hour: the abort ends the wait.
    expect(started).toEqual(['h0', 'h1']);
    expect(report.notStarted).toEqual(hosts.slice(2));
    expect(report.stopped).toEqual({ reason: 'aborted', message: 'cancelled before batch 2 of 5' });
  });

  it('plans a canary larger than the fleet as one batch, and an empty fleet as none', () => {
    expect(planBatches(['a', 'b'], { canary: 5, batch: { count: 1 } })).toEqual([['a', 'b']]);
    expect(planBatches([], { canary: 1 })).toEqual([]);
  });
});

describe('parseRollingOptions', () => {
  it('reads counts, percentages and durations', () => {
    expect(parseRollingOptions({ canary: '2', batch: '5', 'batch-wait': '500ms', 'max-fail': '0' })).toEqual({
      canary: 2,
      batch: { count: 5 },
      batchWaitMs: 500,
      maxFail: { count: 0 },
    });
    expect(parseRollingOptions({ batch: '12.5%', 'batch-wait': '2m', 'max-fail': '0%' })).toEqual({
      batch: { percent: 12.5 },
      batchWaitMs: 120_000,
      maxFail: { percent: 0 },
    });
    expect(parseRollingOptions({ batch: '1', 'batch-wait': '10' }).batchWaitMs).toBe(10_000);
  });

  const refusals: Array<[RollingFlags, string]> = [
    [{ canary: '0' }, '--canary takes a whole number of hosts (1 or more), as in --canary 1; "0" is not one'],
    [{ canary: 'one' }, '--canary takes a whole number of hosts (1 or more), as in --canary 1; "one" is not one'],
    [{ batch: '0' }, '--batch takes a number of hosts (1 or more) or a percentage, as in --batch 5 or --batch 25%; "0" is neither'],
    [{ batch: 'half' }, '--batch takes a number of hosts (1 or more) or a percentage, as in --batch 5 or --batch 25%; "half" is neither'],
    [{ batch: '150%' }, '--batch 150%: a percentage is between 1% and 100%, as in --batch 5 or --batch 25%'],
    [{ batch: '0%' }, '--batch 0%: a percentage is between 1% and 100%, as in --batch 5 or --batch 25%'],
    [{ 'max-fail': '-1' }, '--max-fail takes a number of hosts or a percentage, as in --max-fail 2 or --max-fail 10%; "-1" is neither'],
    [{ 'max-fail': '101%' }, '--max-fail 101%: a percentage is between 0% and 100%, as in --max-fail 2 or --max-fail 10%'],
    [{ batch: '2', 'batch-wait': 'soon' }, '--batch-wait takes a duration, as in --batch-wait 30s, 500ms or 2m; "soon" is not one'],
    [{ 'batch-wait': '30s' }, '--batch-wait needs --batch or --canary: without batches there is nothing to wait between'],
  ];

  it.each(refusals)('refuses %j', (flags, detail) => {
    expect(usageError(flags)).toBe(detail);
  });
});
