// The Jobs page's logic, without the DOM: the list's row per job (next run in the job's time zone,
// last status across hosts), the hosts × runs matrix, the schedule helper's next five times, and
// the run-now form's fields. The job document itself is checked by shared/jobs/job.ts.

import { FlotillaError } from '../../../shared/wire/errors.ts';
import { nextRuns, parseSchedule, resolveParams, type JobDoc, type JobParam } from '../../../shared/jobs/job.ts';
import { isFailure, type JobRun, type JobRunsDoc, type RunStatus } from '../../../shared/jobs/runs.ts';
import type { OpenedDoc } from '../../../shared/store/fleet-sync.ts';

/** Why something was refused: the error's own sentence. */
export function reason(error: unknown): string {
  if (error instanceof FlotillaError) return error.detail ?? error.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * The job documents (with the device that saved each) and the hosts' run reports among opened
 * store documents. A host reports its own runs only: a jobruns record signed by anyone but the
 * host it names is left out. (The store already refuses job documents from viewers and hosts.)
 */
export function jobsFromStore(jobDocs: readonly OpenedDoc[], runDocs: readonly OpenedDoc[]): { jobs: (JobDoc & { by: string })[]; runs: JobRunsDoc[] } {
  const jobs: (JobDoc & { by: string })[] = [];
  for (const d of jobDocs) if (d.payload.type === 'job' && d.signer.kind === 'device') jobs.push({ ...d.payload, by: d.signer.name ?? d.signer.id });
  const runs: JobRunsDoc[] = [];
  for (const d of runDocs) if (d.payload.type === 'jobruns' && d.signer.kind === 'host' && d.signer.id === d.payload.host) runs.push(d.payload);
  return { jobs, runs };
}

/** `2026-12-03 14:05:00` in `timezone` (the browser's when absent). Invalid zones fall back to the browser's. */
export function formatInZone(ms: number, timezone?: string): string {
  let format: Intl.DateTimeFormat;
  const options: Intl.DateTimeFormatOptions = {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  };
  try {
    format = new Intl.DateTimeFormat('en-US', { ...options, ...(timezone ? { timeZone: timezone } : {}) });
  } catch {
    format = new Intl.DateTimeFormat('en-US', options);
  }
  const part = Object.fromEntries(format.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return `${part['year']}-${part['month']}-${part['day']} ${part['hour']}:${part['minute']}:${part['second']}`;
}

/** What the schedule helper shows under the schedule field. */
export type ScheduleHelp = { ok: true; note: string; times: string[] } | { ok: false; error: string };

/** Checks a schedule as the operator types it and lists its next `count` times in the job's time zone. */
export function scheduleHelp(schedule: string, timezone: string | undefined, now: number, count = 5): ScheduleHelp {
  const zone = timezone?.trim() || undefined;
  let parsed;
  try {
    parsed = parseSchedule(schedule, zone);
  } catch (error) {
    return { ok: false, error: reason(error) };
  }
  const times = nextRuns(parsed, now, count, zone).map((t) => formatInZone(t, zone));
  const where = zone ?? `this browser's time zone (${Intl.DateTimeFormat().resolvedOptions().timeZone}); hosts use their own`;
  switch (parsed.kind) {
    case 'once':
      return { ok: true, note: 'Runs once on each host, when the host installs the job.', times: [] };
    case 'manual':
      return { ok: true, note: 'Runs only when invoked (Run now, flotilla jobs run, the API).', times: [] };
    case 'every':
      return { ok: true, note: `Counted from when each host installs the job; if it were installed now, in ${where}:`, times };
    case 'at':
      return times.length > 0 ? { ok: true, note: `Once, in ${where}:`, times } : { ok: true, note: 'That time has passed: the job will not run.', times: [] };
    default:
      return { ok: true, note: `Next ${times.length} runs in ${where}:`, times };
  }
}

/** How bad a run's status is, for "worst across hosts". */
const SEVERITY: Record<RunStatus, number> = { ok: 0, skipped: 1, running: 1, killed: 2, timeout: 3, error: 3, failed: 3 };

/** The newest run of a host that ended (or runs now), skipping `skipped` ones when there are others. */
export function lastRun(doc: Pick<JobRunsDoc, 'runs'>): JobRun | undefined {
  const runs = doc.runs;
  for (let i = runs.length - 1; i >= 0; i--) if (runs[i]!.status !== 'skipped') return runs[i];
  return runs.at(-1);
}

/** One row of the Jobs list. */
export interface JobRow {
  job: JobDoc;
  /** The next time any host runs it: reported by hosts, or computed from the schedule. */
  nextRun?: number;
  /** The worst of each host's newest run; ties go to the newest. */
  lastStatus?: RunStatus;
  lastRunAt?: number;
  /** Hosts that report the job installed. */
  hosts: number;
  hostsOk: number;
  hostsFailing: number;
}

/** The job's own next run from its schedule (`every` counted from now), for hosts that did not report one yet. */
export function scheduledNext(job: Pick<JobDoc, 'schedule' | 'timezone' | 'enabled'>, now: number): number | undefined {
  if (!job.enabled) return undefined;
  try {
    return nextRuns(parseSchedule(job.schedule, job.timezone), now, 1, job.timezone)[0];
  } catch {
    return undefined;
  }
}

/** The jobruns documents of one job that belong to its current hosts (installed). */
export function runsOf(job: string, docs: readonly JobRunsDoc[]): JobRunsDoc[] {
  return docs.filter((d) => d.job === job);
}

/** The Jobs list: every job that is not deleted, by name, with what its hosts report. */
export function jobRows(jobs: readonly JobDoc[], docs: readonly JobRunsDoc[], now: number): JobRow[] {
  return jobs
    .filter((j) => !j.deleted)
    .map((job) => {
      const mine = runsOf(job.name, docs).filter((d) => d.installed);
      let lastStatus: RunStatus | undefined;
      let lastRunAt: number | undefined;
      let hostsOk = 0;
      let hostsFailing = 0;
      const reported: number[] = [];
      for (const d of mine) {
        if (d.nextRun !== undefined && d.nextRun >= now) reported.push(d.nextRun);
        const run = lastRun(d);
        if (!run) continue;
        if (isFailure(run)) hostsFailing++;
        else if (run.status === 'ok') hostsOk++;
        const at = run.endedAt ?? run.startedAt ?? run.planned;
        if (lastStatus === undefined || SEVERITY[run.status] > SEVERITY[lastStatus] || (SEVERITY[run.status] === SEVERITY[lastStatus] && at > (lastRunAt ?? 0)))
          lastStatus = run.status;
        lastRunAt = Math.max(lastRunAt ?? 0, at);
      }
      const nextRun = job.enabled ? (reported.length > 0 ? Math.min(...reported) : scheduledNext(job, now)) : undefined;
      return {
        job,
        ...(nextRun === undefined ? {} : { nextRun }),
        ...(lastStatus === undefined ? {} : { lastStatus }),
        ...(lastRunAt === undefined ? {} : { lastRunAt }),
        hosts: mine.length,
        hostsOk,
        hostsFailing,
      };
    })
    .sort((a, b) => a.job.name.localeCompare(b.job.name));
}

/** One row of the matrix: a host and its newest runs, oldest first (newest on the right). */
export interface MatrixRow {
  host: string;
  hostname: string;
  installed: boolean;
  nextRun?: number;
  total: number;
  failures: number;
  runs: JobRun[];
}

/** Hosts × last runs of one job, hosts by name; hosts that uninstalled it last. */
export function jobMatrix(job: string, docs: readonly JobRunsDoc[], width = 20): MatrixRow[] {
  return runsOf(job, docs)
    .map((d) => ({
      host: d.host,
      hostname: d.hostname,
      installed: d.installed,
      ...(d.nextRun === undefined ? {} : { nextRun: d.nextRun }),
      total: d.total,
      failures: d.failures,
      runs: d.runs.slice(-width),
    }))
    .sort((a, b) => Number(b.installed) - Number(a.installed) || a.hostname.localeCompare(b.hostname) || a.host.localeCompare(b.host));
}

/** The tooltip (and the accessible name) of a run's cell: status, time, exit. */
export function runLabel(run: JobRun, timezone?: string): string {
  const at = run.startedAt ?? run.planned;
  const parts = [run.status, formatInZone(at, timezone)];
  if (run.exit !== undefined) parts.push(`exit ${run.exit}`);
  if (run.signal) parts.push(run.signal);
  if (run.trigger !== 'schedule') parts.push(run.trigger);
  return parts.join(' · ');
}

/** One field of the run-now form. */
export interface ParamField {
  name: string;
  input: 'text' | 'number' | 'checkbox' | 'select';
  required: boolean;
  /** The initial value: the default, or '' ('false' for a checkbox). */
  initial: string;
  pattern?: string;
  values?: string[];
  description?: string;
}

/** The run-now form generated from the job's parameters. */
export function paramFields(params: readonly JobParam[]): ParamField[] {
  return params.map((p) => ({
    name: p.name,
    input: p.type === 'int' ? 'number' : p.type === 'bool' ? 'checkbox' : p.type === 'enum' ? 'select' : 'text',
    required: p.required,
    initial: p.default ?? (p.type === 'bool' ? 'false' : p.type === 'enum' && p.required ? (p.values?.[0] ?? '') : ''),
    ...(p.pattern === undefined ? {} : { pattern: p.pattern }),
    ...(p.values === undefined ? {} : { values: p.values }),
    ...(p.description === undefined ? {} : { description: p.description }),
  }));
}

/**
 * The values to send: empty optional fields left out (the agent fills defaults), each checked as
 * the agent will check it. Returns the values, or the first refusal naming the parameter.
 */
export function runNowValues(
  job: Pick<JobDoc, 'params'>,
  form: Record<string, string>,
): { ok: true; values: Record<string, string> } | { ok: false; error: string } {
  const given: Record<string, string> = {};
  for (const p of job.params) {
    const v = form[p.name];
    if (v !== undefined && v !== '') given[p.name] = v;
  }
  try {
    resolveParams(job, given);
    return { ok: true, values: given };
  } catch (error) {
    return { ok: false, error: reason(error) };
  }
}

/** The colour class of a run status. */
export function tone(status: RunStatus | undefined): 'ok' | 'failed' | 'warn' | 'info' | 'neutral' {
  switch (status) {
    case 'ok':
      return 'ok';
    case 'failed':
    case 'error':
      return 'failed';
    case 'timeout':
    case 'killed':
      return 'warn';
    case 'running':
      return 'info';
    default:
      return 'neutral';
  }
}
