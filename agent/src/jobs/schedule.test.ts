import { describe, expect, it } from 'vitest';
import { parseSchedule } from '../../../shared/jobs/job.ts';
import { missedRun, nextPlanned, splay } from './schedule.ts';

const at = (iso: string) => Date.parse(iso);

describe('job schedule arithmetic', () => {
  it('plans the next cron second in the job time zone, and nothing for once and manual', () => {
    const cron = { schedule: parseSchedule('*/2 * * * * *'), anchor: 0 };
    expect(nextPlanned(cron, at('2026-01-01T00:00:00.000Z'))).toBe(at('2026-01-01T00:00:02.000Z'));
    expect(nextPlanned(cron, at('2026-01-01T00:00:01.500Z'))).toBe(at('2026-01-01T00:00:02.000Z'));
    // 09:00 in Tokyo is 00:00 UTC.
    const tokyo = { schedule: parseSchedule('0 0 9 * * *', 'Asia/Tokyo'), timezone: 'Asia/Tokyo', anchor: 0 };
    expect(nextPlanned(tokyo, at('2026-01-01T12:00:00Z'))).toBe(at('2026-01-02T00:00:00Z'));
    expect(nextPlanned({ schedule: parseSchedule('once'), anchor: 0 }, 0)).toBeUndefined();
    expect(nextPlanned({ schedule: parseSchedule('manual'), anchor: 0 }, 0)).toBeUndefined();
  });

  it('counts @every from its anchor, and an ISO time fires once', () => {
    const every = { schedule: parseSchedule('@every 30s'), anchor: 1_000 };
    expect(nextPlanned(every, 1_000)).toBe(31_000);
    expect(nextPlanned(every, 45_000)).toBe(61_000);
    const once = { schedule: parseSchedule('2026-05-01T10:00:00Z'), anchor: 0 };
    expect(nextPlanned(once, at('2026-05-01T09:00:00Z'))).toBe(at('2026-05-01T10:00:00Z'));
    expect(nextPlanned(once, at('2026-05-01T10:00:00Z'))).toBeUndefined();
  });

  it('catches up the newest missed run within catchUpSec, none past it, none when off or never fired', () => {
    const cron = { schedule: parseSchedule('*/10 * * * * *'), anchor: 0 };
    const last = at('2026-01-01T00:00:00Z');
    const now = at('2026-01-01T00:00:35Z');
    expect(missedRun(cron, last, now, 60)).toBe(at('2026-01-01T00:00:30Z'));
    expect(missedRun(cron, last, now, 6)).toBe(at('2026-01-01T00:00:30Z'));
    expect(missedRun(cron, last, now, 4)).toBeUndefined(); // the newest missed is 5 s old
    expect(missedRun(cron, last, now, 0)).toBeUndefined();
    expect(missedRun(cron, undefined, now, 60)).toBeUndefined();
    expect(missedRun(cron, at('2026-01-01T00:00:30Z'), now, 60)).toBeUndefined(); // it did fire
    const iso = { schedule: parseSchedule('2026-01-01T00:00:20Z'), anchor: 0 };
    expect(missedRun(iso, last, now, 30)).toBe(at('2026-01-01T00:00:20Z'));
    expect(missedRun(iso, last, now, 10)).toBeUndefined();
    expect(missedRun(iso, undefined, now, 30)).toBe(at('2026-01-01T00:00:20Z')); // never fired here
    expect(missedRun(iso, at('2026-01-01T00:00:20Z'), now, 30)).toBeUndefined(); // fired
    // A seconds-level cron over a day-long deadline: bounded work, still the newest.
    const second = { schedule: parseSchedule('* * * * * *'), anchor: 0 };
    expect(missedRun(second, last, at('2026-01-01T00:30:00.500Z'), 86_400)).toBe(at('2026-01-01T00:30:00Z'));
  });

  it('splays within [0, splaySec]', () => {
    expect(splay(0)).toBe(0);
    expect(splay(5, () => 0)).toBe(0);
    expect(splay(5, () => 0.999999)).toBe(5000);
    for (let i = 0; i < 1000; i++) expect(splay(2)).toBeLessThanOrEqual(2000);
  });
});
