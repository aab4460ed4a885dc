import { describe, expect, it } from 'vitest';
import { jobFromFile, type JobDoc } from '../../../shared/jobs/job.ts';
import type { JobRun, JobRunsDoc, RunStatus } from '../../../shared/jobs/runs.ts';
import type { SelectableHost } from '../../../shared/controller/selector.ts';
import { analyseJobs, MIN_STALE_MS, periodOf, staleAfter } from './analysis.ts';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);
const H = 3_600_000;
const id = (c: string) => c.repeat(52);

function host(name: string, tags: Record<string, string>, c: string): SelectableHost {
  return { id: id(c), hostname: name, os: 'linux', tags, online: true, ips: [] };
}

const HOSTS = [
  host('web-1', { role: 'web' }, 'a'),
  host('web-2', { role: 'web' }, 'b'),
  host('web-3', { role: 'web' }, 'c'),
  host('db-1', { role: 'db' }, 'd'),
];

function job(fields: Record<string, unknown> = {}, at = NOW - 48 * H): JobDoc {
  return jobFromFile({ name: 'tick', command: 'date', target: 'tag:role=web', schedule: '*/10 * * * *', ...fields }, at);
}

function run(status: RunStatus, minutesAgo: number, extra: Partial<JobRun> = {}): JobRun {
  const planned = NOW - minutesAgo * 60_000;
  return {
    id: `tick.${planned}.0`,
    job: 'tick',
    planned,
    startedAt: planned,
    endedAt: planned + 1000,
    status,
    stdout: '',
    stderr: '',
    attempt: 0,
    trigger: 'schedule',
    ...extra,
  };
}

function report(c: string, runs: JobRun[], extra: Partial<JobRunsDoc> = {}): JobRunsDoc {
  return {
    type: 'jobruns',
    job: 'tick',
    host: id(c),
    hostname: `h-${c}`,
    jobAt: NOW - 48 * H,
    installed: true,
    total: runs.length,
    failures: runs.filter((r) => r.status === 'failed').length,
    runs,
    at: NOW - 60_000,
    ...extra,
  };
}

describe('jobs analysis', () => {
  it('gives each reporting host its last run and the failures inside the window only', () => {
    const [a] = analyseJobs({
      jobs: [job()],
      reports: [report('a', [run('failed', 30 * 60), run('failed', 50), run('ok', 40), run('timeout', 20), run('skipped', 10)]), report('b', [run('ok', 10)])],
      hosts: HOSTS.slice(0, 2),
      now: NOW,
      since: NOW - H,
    });
    expect(a!.job).toBe('tick');
    expect(a!.expected).toBe(2);
    expect(a!.reporting).toBe(2);
    const web1 = a!.hosts.find((h) => h.hostname === 'web-1')!;
    // The failure 30 h ago is outside the 1 h window; skipped is not a failure.
    expect(web1).toMatchObject({ expected: true, installed: true, runsInWindow: 4, failuresInWindow: 2, total: 5, failures: 2, partial: false });
    expect(web1.lastRun).toMatchObject({ status: 'skipped', planned: NOW - 10 * 60_000 });
    expect(web1.missing).toBeUndefined();
    expect(a!.failuresInWindow).toBe(2);
    expect(a!.hosts.map((h) => h.hostname)).toEqual(['web-1', 'web-2']);
  });

  it('names every matching host that does not report the job, and why', () => {
    const saved = NOW - 2 * H;
    const [a] = analyseJobs({
      jobs: [job({}, saved)],
      reports: [
        report('a', [run('ok', 5)], { jobAt: saved }),
        // Reports the job uninstalled: its own view of its tags differs.
        report('b', [], { installed: false, jobAt: saved }),
        // Still runs the version before the last save.
        report('c', [run('ok', 5)], { jobAt: saved - H }),
      ],
      hosts: [...HOSTS, host('web-4', { role: 'web' }, 'e')],
      now: NOW,
      since: NOW - 24 * H,
    });
    const byName = new Map(a!.hosts.map((h) => [h.hostname, h]));
    expect(byName.get('web-1')!.missing).toBeUndefined();
    expect(byName.get('web-2')).toMatchObject({ missing: 'not-installed', installed: false });
    expect(byName.get('web-3')).toMatchObject({ missing: 'outdated' });
    expect(byName.get('web-4')).toMatchObject({ missing: 'no-report', installed: false, expected: true, runsInWindow: 0 });
    expect(byName.get('web-4')!.why).toMatch(/reported no run/);
    // db-1 does not match the target: not expected, not listed.
    expect(byName.has('db-1')).toBe(false);
    expect(a!.expected).toBe(4);
    expect(a!.reporting).toBe(1);
  });

  it('calls a report stale after three periods (at least 15 minutes) of an enabled recurring job, and never for once or a disabled job', () => {
    expect(periodOf(job(), NOW)).toBe(10 * 60_000);
    expect(periodOf(job({ schedule: '@every 30s' }), NOW)).toBe(30_000);
    expect(periodOf(job({ schedule: '*/2 * * * * *' }), NOW)).toBe(2000);
    expect(staleAfter(job(), NOW)).toBe(30 * 60_000);
    expect(staleAfter(job({ schedule: '*/2 * * * * *' }), NOW)).toBe(MIN_STALE_MS);
    expect(staleAfter(job({ schedule: 'once' }), NOW)).toBeUndefined();
    expect(staleAfter(job({ enabled: false }), NOW)).toBeUndefined();

    const reports = [report('a', [run('ok', 31)], { at: NOW - 31 * 60_000 }), report('b', [run('ok', 29)], { at: NOW - 29 * 60_000 })];
    const [a] = analyseJobs({ jobs: [job()], reports, hosts: HOSTS.slice(0, 2), now: NOW, since: NOW - H });
    expect(a!.hosts.map((h) => [h.hostname, h.missing])).toEqual([
      ['web-1', 'stale'],
      ['web-2', undefined],
    ]);
    expect(a!.hosts[0]!.why).toMatch(/no report for 31m/);
    const [off] = analyseJobs({ jobs: [job({ enabled: false })], reports, hosts: HOSTS.slice(0, 2), now: NOW, since: NOW - H });
    expect(off!.hosts.every((h) => h.missing === undefined)).toBe(true);
  });

  it('marks counts as lower bounds when the document no longer holds the start of the window', () => {
    const runs = [run('failed', 50), run('ok', 40)];
    const [a] = analyseJobs({ jobs: [job()], reports: [report('a', runs, { total: 300 })], hosts: HOSTS.slice(0, 1), now: NOW, since: NOW - 24 * H });
    expect(a!.hosts[0]).toMatchObject({ partial: true, failuresInWindow: 1, total: 300 });
    const [b] = analyseJobs({ jobs: [job()], reports: [report('a', runs, { total: 300 })], hosts: HOSTS.slice(0, 1), now: NOW, since: NOW - 45 * 60_000 });
    expect(b!.hosts[0]!.partial).toBe(false);
  });

  it('lists a host reporting a job it does not match here, resolves saved selectors, and skips deleted jobs', () => {
    const jobs = [job({ target: '@webs and not web-2' }), job({ name: 'gone' }), { ...job({ name: 'old' }), deleted: true }];
    const reports = [report('d', [run('ok', 5)]), report('b', [], { installed: false, runs: [] })];
    const lookup = new Map([['webs', 'tag:role=web']]);
    const result = analyseJobs({ jobs, reports, hosts: HOSTS, now: NOW, since: NOW - H, lookup });
    expect(result.map((a) => a.job)).toEqual(['gone', 'tick']);
    const tick = result.find((a) => a.job === 'tick')!;
    expect(tick.expected).toBe(2);
    const db = tick.hosts.find((h) => h.hostname === 'db-1')!;
    expect(db).toMatchObject({ expected: false, installed: true });
    expect(db.missing).toBeUndefined();
    // web-2 is excluded by the target and has uninstalled the job: nothing to say about it.
    expect(tick.hosts.some((h) => h.hostname === 'web-2')).toBe(false);
    expect(tick.hosts.filter((h) => h.missing).map((h) => h.hostname)).toEqual(['web-1', 'web-3']);
  });

  it('says when the target cannot be matched here instead of expecting no host silently', () => {
    const [a] = analyseJobs({ jobs: [job({ target: '@nowhere' })], reports: [], hosts: HOSTS, now: NOW, since: NOW - H });
    expect(a!.targetProblem).toMatch(/nowhere/);
    expect(a!.expected).toBe(0);
    expect(a!.hosts).toEqual([]);
  });
});
