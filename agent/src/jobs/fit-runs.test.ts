import { describe, expect, it } from 'vitest';
import { fitRuns, RUNS_ANSWER_BUDGET } from './fit-runs.ts';
import { RUN_TAIL_MAX, type JobRun } from '../../../shared/jobs/runs.ts';

const run = (i: number, out: string): JobRun => ({
  id: `j.${i}.0`,
  job: 'j',
  planned: i,
  status: 'ok',
  stdout: out,
  stderr: out,
  attempt: 0,
  trigger: 'schedule',
});

describe('fitRuns', () => {
  it('leaves a small answer alone', () => {
    const runs = [run(1, 'a'), run(2, 'b')];
    expect(fitRuns(runs)).toEqual(runs);
  });

  it('cuts the tails of 200 full runs (escaped output too) to fit the header, keeping the ends with a notice', () => {
    const runs = Array.from({ length: 200 }, (_, i) => run(i, '\u0001'.repeat(RUN_TAIL_MAX - 4) + `end${i % 10}`));
    const fitted = fitRuns(runs);
    expect(fitted).toHaveLength(200);
    expect(Buffer.byteLength(JSON.stringify(fitted))).toBeLessThanOrEqual(RUNS_ANSWER_BUDGET);
    expect(fitted[199]!.stdout).toMatch(/^\[… \d+ characters cut …\]\n[\s\S]*end9$/);
  });
});
