// What agents report of job runs: one run (the agent's job journal keeps each, by count and age)
// and the per host × job document that carries the newest runs to every device through the
// sealed store (PLACEMENT.jobruns: a `result` record for the devices, named `<host>:<job>`), so a
// phone that opens tomorrow sees last night's failures.

import { FlotillaError } from '../wire/errors.ts';
import { bool, int, isObj, obj, oneOf, optInt, optStr, str, strMap, type Obj } from '../wire/validate.ts';

export const RUN_STATUSES = ['running', 'ok', 'failed', 'timeout', 'killed', 'skipped', 'error'] as const;
/**
 * ok: exit 0. failed: another exit code. timeout: killed at policy.timeoutSec. killed: replaced by
 * a newer run (overlap `replace`) or the agent stopped. skipped: due while another ran (overlap
 * `skip`), never started. error: could not start (a bad cwd, a run-as user the policy refuses).
 */
export type RunStatus = (typeof RUN_STATUSES)[number];

export const TRIGGERS = ['schedule', 'catch-up', 'once', 'at', 'invoke', 'retry'] as const;
export type Trigger = (typeof TRIGGERS)[number];

/** Longest stdout or stderr tail a run keeps in the agent's journal. */
export const RUN_TAIL_MAX = 64 * 1024;
/** Longest tail of each stream in the store's document (the newest runs of a host × job). */
export const DOC_TAIL_MAX = 2048;
/** Runs a jobruns document carries (the newest). */
export const DOC_RUNS_MAX = 20;

export interface JobRun {
  /** Unique on the host: `<job>.<planned ms>.<attempt>` or an invocation's id. */
  id: string;
  job: string;
  /** When the schedule said (the invocation's time for `invoke`). */
  planned: number;
  startedAt?: number;
  endedAt?: number;
  status: RunStatus;
  exit?: number;
  /** The signal that ended it (SIGKILL after a timeout). */
  signal?: string;
  /** Tails of the output; a cut one begins with a visible notice (`[… N bytes cut …]`). */
  stdout: string;
  stderr: string;
  attempt: number;
  trigger: Trigger;
  /** The job API's or `jobs run`'s invocation id. */
  invocation?: string;
  params?: Record<string, string>;
  /** The device that invoked it (name). */
  by?: string;
  /** Why it could not start, or what else went wrong. */
  error?: string;
}

export interface JobRunsDoc {
  type: 'jobruns';
  job: string;
  host: string;
  hostname: string;
  /** The version (`at`) of the job document the host runs. */
  jobAt: number;
  /** False once the job was deleted or the host stopped matching its target: the host no longer runs it. */
  installed: boolean;
  nextRun?: number;
  /** Runs since the job was installed, and how many of them failed (status not ok and not skipped). */
  total: number;
  failures: number;
  /** The newest runs, oldest first, at most DOC_RUNS_MAX, tails cut to DOC_TAIL_MAX. */
  runs: JobRun[];
  at: number;
}

const ID = 52;

/** Cuts a tail to `max` characters from the end with a visible notice. */
export function tail(text: string, max: number): string {
  if (text.length <= max) return text;
  const notice = `[… ${text.length - max} characters cut …]\n`;
  return notice + text.slice(text.length - max + notice.length);
}

export function parseJobRun(raw: unknown, field = 'run'): JobRun {
  const o = obj(raw, field);
  const run: JobRun = {
    id: str(o, 'id', 128, 1),
    job: str(o, 'job', 64, 1),
    planned: int(o, 'planned'),
    status: oneOf(o, 'status', RUN_STATUSES),
    stdout: str(o, 'stdout', RUN_TAIL_MAX + 64),
    stderr: str(o, 'stderr', RUN_TAIL_MAX + 64),
    attempt: int(o, 'attempt', 0, 100),
    trigger: oneOf(o, 'trigger', TRIGGERS),
  };
  const startedAt = optInt(o, 'startedAt');
  const endedAt = optInt(o, 'endedAt');
  const exit = optInt(o, 'exit', -1_000_000, 1_000_000);
  const signal = optStr(o, 'signal', 16);
  const invocation = optStr(o, 'invocation', 128);
  const by = optStr(o, 'by', 128);
  const error = optStr(o, 'error', 1024);
  if (startedAt !== undefined) run.startedAt = startedAt;
  if (endedAt !== undefined) run.endedAt = endedAt;
  if (exit !== undefined) run.exit = exit;
  if (signal !== undefined) run.signal = signal;
  if (invocation !== undefined) run.invocation = invocation;
  if (o['params'] !== undefined) run.params = strMap(o, 'params', 32, 4096);
  if (by !== undefined) run.by = by;
  if (error !== undefined) run.error = error;
  return run;
}

/** Validates an opened jobruns document. */
export function parseJobRunsDoc(o: Obj): JobRunsDoc {
  const runs = o['runs'];
  if (!Array.isArray(runs) || runs.length > DOC_RUNS_MAX) throw new FlotillaError('bad-message', `runs: expected a list of at most ${DOC_RUNS_MAX}`);
  const nextRun = optInt(o, 'nextRun');
  return {
    type: 'jobruns',
    job: str(o, 'job', 64, 1),
    host: str(o, 'host', ID, ID),
    hostname: str(o, 'hostname', 255),
    jobAt: int(o, 'jobAt'),
    installed: bool(o, 'installed'),
    ...(nextRun === undefined ? {} : { nextRun }),
    total: int(o, 'total'),
    failures: int(o, 'failures'),
    runs: runs.map((r, i) => parseJobRun(r, `runs[${i}]`)),
    at: int(o, 'at'),
  };
}

/** True for a run that counts as a failure in analysis. */
export function isFailure(run: Pick<JobRun, 'status'>): boolean {
  return run.status !== 'ok' && run.status !== 'skipped' && run.status !== 'running';
}

export { isObj };
