// `flotilla jobs analysis` (op-agent's `analysis jobs`): per job and host, the last run, its
// status and the failures in a window, from the hosts' jobruns documents; and the hosts that
// should have the job (hosts this device knows whose facts and tags match the job's target) but
// do not report it. Pure: the command gathers documents and hosts, this decides.

import { isFailure, type JobRun, type JobRunsDoc } from '../../../shared/jobs/runs.ts';
import { nextRuns, parseSchedule, type JobDoc } from '../../../shared/jobs/job.ts';
import { matchesSelector, parseSelector, type SelectableHost, type SelectorLookup } from '../../../shared/controller/selector.ts';
import { FlotillaError } from '../../../shared/wire/errors.ts';

/** A report no newer than this is never stale, however short the job's period (agents may batch their writes). */
export const MIN_STALE_MS = 15 * 60_000;
/** A report is stale after this many periods of a recurring schedule without a new one. */
export const STALE_PERIODS = 3;

/** Why a host that should run a job is not known to: no document at all, says it uninstalled it, runs an older version, or has not reported for too long. */
export type MissingReason = 'no-report' | 'not-installed' | 'outdated' | 'stale';

/** One host's line for a job. */
export interface HostAnalysis {
  host: string;
  hostname: string;
  /** The host matches the job's target as this device knows its facts and tags. */
  expected: boolean;
  installed: boolean;
  /** The newest run the host reported (may be `running` or `skipped`). */
  lastRun?: Pick<JobRun, 'planned' | 'status'> & Partial<Pick<JobRun, 'startedAt' | 'endedAt' | 'exit' | 'trigger'>>;
  /** Runs and failures (not ok, not skipped, not running) that ended or were planned inside the window. */
  runsInWindow: number;
  failuresInWindow: number;
  /** The document keeps only the newest runs and the oldest is inside the window: the window counts are lower bounds. */
  partial: boolean;
  total: number;
  failures: number;
  nextRun?: number;
  /** When the host last wrote its report. */
  reportedAt?: number;
  /** Set when the host should run the job and its report does not show that it does. */
  missing?: MissingReason;
  /** The sentence for `missing`. */
  why?: string;
}

/** One job's analysis. */
export interface JobAnalysis {
  job: string;
  schedule: string;
  enabled: boolean;
  target: string;
  /** The target could not be matched here (a saved selector this device does not know…): no host is expected. */
  targetProblem?: string;
  /** Known hosts matching the target. */
  expected: number;
  /** Hosts whose report shows the job installed and current. */
  reporting: number;
  failuresInWindow: number;
  hosts: HostAnalysis[];
}

/** What analyseJobs reads. */
export interface AnalysisInput {
  jobs: readonly JobDoc[];
  reports: readonly JobRunsDoc[];
  /** Accepted hosts this device knows, as selectors see them. */
  hosts: readonly SelectableHost[];
  now: number;
  /** Start of the window (ms). */
  since: number;
  lookup?: SelectorLookup;
}

const whenOf = (r: JobRun) => r.endedAt ?? r.startedAt ?? r.planned;

/** Time between two runs of a recurring schedule (undefined for once, at, manual and bad patterns). */
export function periodOf(job: Pick<JobDoc, 'schedule' | 'timezone'>, now: number): number | undefined {
  try {
    const schedule = parseSchedule(job.schedule, job.timezone);
    if (schedule.kind === 'every') return schedule.ms;
    if (schedule.kind !== 'cron') return undefined;
    const [a, b] = nextRuns(schedule, now, 2, job.timezone);
    return a !== undefined && b !== undefined ? b - a : undefined;
  } catch {
    return undefined;
  }
}

/** How long a host may go without a new report of an enabled recurring job before it counts as stale. */
export function staleAfter(job: Pick<JobDoc, 'schedule' | 'timezone' | 'enabled'>, now: number): number | undefined {
  if (!job.enabled) return undefined;
  const period = periodOf(job, now);
  return period === undefined ? undefined : Math.max(MIN_STALE_MS, STALE_PERIODS * period);
}

function hostLine(doc: JobRunsDoc, since: number): Omit<HostAnalysis, 'expected' | 'hostname'> {
  const inWindow = doc.runs.filter((r) => whenOf(r) >= since);
  const last = doc.runs.at(-1);
  const oldest = doc.runs[0];
  return {
    host: doc.host,
    installed: doc.installed,
    ...(last
      ? {
          lastRun: {
            planned: last.planned,
            status: last.status,
            ...(last.startedAt === undefined ? {} : { startedAt: last.startedAt }),
            ...(last.endedAt === undefined ? {} : { endedAt: last.endedAt }),
            ...(last.exit === undefined ? {} : { exit: last.exit }),
            trigger: last.trigger,
          },
        }
      : {}),
    runsInWindow: inWindow.length,
    failuresInWindow: inWindow.filter(isFailure).length,
    partial: doc.total > doc.runs.length && oldest !== undefined && whenOf(oldest) > since,
    total: doc.total,
    failures: doc.failures,
    ...(doc.nextRun === undefined ? {} : { nextRun: doc.nextRun }),
    reportedAt: doc.at,
  };
}

function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** Why a matching host's report does not show it running the job, or undefined when it does. */
function missingOf(job: JobDoc, doc: JobRunsDoc | undefined, now: number): { missing: MissingReason; why: string } | undefined {
  if (!doc) return { missing: 'no-report', why: 'matches the target but has reported no run and no installation' };
  if (!doc.installed)
    return { missing: 'not-installed', why: 'matches the target as this device knows it, but reports the job uninstalled (its tags or facts may differ)' };
  if (doc.jobAt < job.at)
    return { missing: 'outdated', why: `runs the version of ${new Date(doc.jobAt).toISOString()}, not the one saved ${new Date(job.at).toISOString()}` };
  const limit = staleAfter(job, now);
  if (limit !== undefined && now - doc.at > limit)
    return { missing: 'stale', why: `no report for ${ago(now - doc.at)} (a report is expected within ${ago(limit)})` };
  return undefined;
}

/** Analyses every job not deleted (sorted by name), each host sorted by name. */
export function analyseJobs(input: AnalysisInput): JobAnalysis[] {
  const byJob = new Map<string, JobRunsDoc[]>();
  for (const r of input.reports) byJob.set(r.job, [...(byJob.get(r.job) ?? []), r]);
  const names = new Map(input.hosts.map((h) => [h.id, h.hostname]));
  return input.jobs
    .filter((j) => !j.deleted)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((job) => {
      let expected: SelectableHost[] = [];
      let targetProblem: string | undefined;
      try {
        const selector = parseSelector(job.target);
        expected = input.hosts.filter((h) => matchesSelector(selector, h, input.lookup));
      } catch (error) {
        targetProblem = error instanceof FlotillaError ? (error.detail ?? error.message) : String(error);
      }
      const expectedIds = new Set(expected.map((h) => h.id));
      // The newest document per host (a host writes one per job; two would be a replay).
      const docs = new Map<string, JobRunsDoc>();
      for (const d of byJob.get(job.name) ?? []) if ((docs.get(d.host)?.at ?? -1) < d.at) docs.set(d.host, d);
      const lines: HostAnalysis[] = [];
      for (const doc of docs.values()) {
        const isExpected = expectedIds.has(doc.host);
        const missing = isExpected ? missingOf(job, doc, input.now) : undefined;
        // A host that does not match and has uninstalled the job is history, not news.
        if (!isExpected && !doc.installed && doc.runs.length === 0) continue;
        lines.push({ ...hostLine(doc, input.since), hostname: names.get(doc.host) || doc.hostname || doc.host.slice(0, 8), expected: isExpected, ...missing });
      }
      for (const h of expected) {
        if (docs.has(h.id)) continue;
        lines.push({
          host: h.id,
          hostname: h.hostname || h.id.slice(0, 8),
          expected: true,
          installed: false,
          runsInWindow: 0,
          failuresInWindow: 0,
          partial: false,
          total: 0,
          failures: 0,
          ...missingOf(job, undefined, input.now)!,
        });
      }
      lines.sort((a, b) => a.hostname.localeCompare(b.hostname) || a.host.localeCompare(b.host));
      return {
        job: job.name,
        schedule: job.schedule,
        enabled: job.enabled,
        target: job.target,
        ...(targetProblem === undefined ? {} : { targetProblem }),
        expected: expected.length,
        reporting: lines.filter((l) => l.installed && l.missing === undefined).length,
        failuresInWindow: lines.reduce((n, l) => n + l.failuresInWindow, 0),
        hosts: lines,
      };
    });
}
