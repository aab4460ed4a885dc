// What the jobs commands read from the fleet state: the job documents, the hosts' jobruns
// documents, and the next run times a device can compute (cron and one-time schedules; an
// `@every` schedule counts from when each host installed the job, so only the host knows).

import { FlotillaError } from '../../../shared/wire/errors.ts';
import { nextRuns, parseSchedule, type JobDoc } from '../../../shared/jobs/job.ts';
import type { JobRun, JobRunsDoc } from '../../../shared/jobs/runs.ts';
import type { FleetSync } from '../../../shared/store/fleet-sync.ts';

/** Every job document (deleted ones too: `rm` of a deleted job says so), sorted by name. */
export function jobDocs(sync: FleetSync): JobDoc[] {
  return sync
    .docsOf('job')
    .map((d) => d.payload)
    .filter((p): p is JobDoc => p.type === 'job')
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The hosts' reports of their runs (one per host × job). */
export function runsDocs(sync: FleetSync): JobRunsDoc[] {
  return sync
    .docsOf('jobruns')
    .map((d) => d.payload)
    .filter((p): p is JobRunsDoc => p.type === 'jobruns');
}

/** The job named `name` (not deleted); a usage error naming the jobs there are otherwise. */
export function findJob(jobs: readonly JobDoc[], name: string | undefined, usage: string): JobDoc {
  if (!name) throw new FlotillaError('usage', `name a job: ${usage}`);
  const job = jobs.find((j) => j.name === name && !j.deleted);
  if (job) return job;
  const live = jobs.filter((j) => !j.deleted).map((j) => j.name);
  const listed =
    live.length === 0 ? 'the fleet has no jobs yet (flotilla jobs save <job.yaml>)' : `jobs: ${live.slice(0, 10).join(', ')}${live.length > 10 ? ', …' : ''}`;
  throw new FlotillaError('usage', `no job is named ${JSON.stringify(name)}; ${listed}`);
}

/** What the next runs of a job are as a device sees them. */
export type NextRuns = { kind: 'times'; times: number[] } | { kind: 'host-side' | 'once' | 'manual' | 'disabled' | 'none' };

/** The next `count` runs after `now`: cron in the job's time zone (this machine's when it has none), a one-time schedule's time. */
export function nextRunsOf(job: JobDoc, now: number, count: number): NextRuns {
  if (!job.enabled) return { kind: 'disabled' };
  const schedule = parseSchedule(job.schedule, job.timezone);
  if (schedule.kind === 'every') return { kind: 'host-side' };
  if (schedule.kind === 'once' || schedule.kind === 'manual') return { kind: schedule.kind };
  const times = nextRuns(schedule, now, count, job.timezone);
  return times.length === 0 ? { kind: 'none' } : { kind: 'times', times };
}

/** A time in the job's time zone, as `2026-12-03 14:00:02 Europe/Berlin` (this machine's zone when the job has none). */
export function formatTime(ms: number, timezone?: string): string {
  const zone = timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(ms));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')} ${zone}`;
}

/** The NEXT column of `jobs list`. */
export function nextRunText(next: NextRuns, timezone?: string): string {
  switch (next.kind) {
    case 'times':
      return formatTime(next.times[0]!, timezone);
    case 'host-side':
      return '—';
    case 'once':
      return 'once per host';
    case 'manual':
      return 'when invoked';
    case 'disabled':
      return 'disabled';
    default:
      return 'none';
  }
}

/** A run's duration in ms, when it has ended. */
export function runDuration(run: JobRun): number | undefined {
  return run.startedAt !== undefined && run.endedAt !== undefined ? Math.max(0, run.endedAt - run.startedAt) : undefined;
}

/** The reports of one job, newest document per host. */
export function reportsOf(reports: readonly JobRunsDoc[], job: string): JobRunsDoc[] {
  const byHost = new Map<string, JobRunsDoc>();
  for (const r of reports) if (r.job === job && (byHost.get(r.host)?.at ?? -1) < r.at) byHost.set(r.host, r);
  return [...byHost.values()];
}
