import { describe, expect, it } from 'vitest';
import { jobFromFile } from '../../../shared/jobs/job.ts';
import type { JobRunsDoc } from '../../../shared/jobs/runs.ts';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { findJob, formatTime, nextRunsOf, nextRunText, reportsOf } from './views.ts';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0, 500);
const job = (fields: Record<string, unknown>) => jobFromFile({ name: 'j', command: 'date', target: '*', schedule: '0 0 3 * * *', ...fields }, NOW);

describe('jobs views', () => {
  it('computes cron runs in the job time zone and prints them there', () => {
    const next = nextRunsOf(job({ timezone: 'Asia/Tokyo' }), NOW, 3);
    // 03:00 in Tokyo is 18:00 UTC the day before.
    expect(next).toEqual({ kind: 'times', times: [Date.UTC(2026, 11, 3, 18), Date.UTC(2026, 11, 4, 18), Date.UTC(2026, 11, 5, 18)] });
    expect(formatTime(Date.UTC(2026, 11, 3, 18), 'Asia/Tokyo')).toBe('2026-12-04 03:00:00 Asia/Tokyo');
    expect(formatTime(Date.UTC(2026, 11, 3, 18, 0, 2), 'Europe/Berlin')).toBe('2026-12-03 19:00:02 Europe/Berlin');
    expect(nextRunsOf(job({ schedule: '*/2 * * * * *' }), NOW, 2)).toEqual({ kind: 'times', times: [NOW + 1500, NOW + 3500] });
  });

  it('leaves @every to the hosts and names the schedules that have no next time', () => {
    expect(nextRunText(nextRunsOf(job({ schedule: '@every 30s' }), NOW, 1))).toBe('—');
    expect(nextRunText(nextRunsOf(job({ schedule: 'once' }), NOW, 1))).toBe('once per host');
    expect(nextRunText(nextRunsOf(job({ schedule: 'manual' }), NOW, 1))).toBe('when invoked');
    expect(nextRunText(nextRunsOf(job({ enabled: false }), NOW, 1))).toBe('disabled');
    expect(nextRunText(nextRunsOf(job({ schedule: '2026-01-01T00:00:00Z' }), NOW, 1))).toBe('none');
    expect(nextRunsOf(job({ schedule: '2027-01-01T00:00:00Z' }), NOW, 5)).toEqual({ kind: 'times', times: [Date.UTC(2027, 0, 1)] });
  });

  it('finds a job by name, refusing deleted ones and naming the jobs there are', () => {
    const jobs = [job({ name: 'a' }), { ...job({ name: 'b' }), deleted: true }];
    expect(findJob(jobs, 'a', 'x').name).toBe('a');
    const refused = (name: string | undefined, list = jobs) => {
      try {
        findJob(list, name, 'flotilla jobs show <name>');
      } catch (error) {
        expect((error as FlotillaError).code).toBe('usage');
        return (error as FlotillaError).detail;
      }
      throw new Error('found');
    };
    expect(refused('b')).toBe('no job is named "b"; jobs: a');
    expect(refused('c', [])).toBe('no job is named "c"; the fleet has no jobs yet (flotilla jobs save <job.yaml>)');
    expect(refused(undefined)).toBe('name a job: flotilla jobs show <name>');
  });

  it('keeps the newest report per host of one job', () => {
    const doc = (host: string, jobName: string, at: number): JobRunsDoc => ({
      type: 'jobruns',
      job: jobName,
      host: host.repeat(52),
      hostname: host,
      jobAt: 1,
      installed: true,
      total: 0,
      failures: 0,
      runs: [],
      at,
    });
    const kept = reportsOf([doc('a', 'j', 1), doc('a', 'j', 3), doc('a', 'k', 5), doc('b', 'j', 2)], 'j');
    expect(kept.map((d) => [d.hostname, d.at])).toEqual([
      ['a', 3],
      ['b', 2],
    ]);
  });
});
