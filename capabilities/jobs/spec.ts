// jobs: the jobs this agent installed from the fleet's job documents (shared/jobs/job.ts), their
// runs as its job journal keeps them, and invoking one now with parameters. The schedule itself
// runs on the agent with nobody connected (agent side: capabilities/jobs/agent.ts and the job
// scheduler); this capability is how a controller looks and asks.
import { defineCapability } from '../spec.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { bool, int, obj, oneOf, optInt, optStr, optional, str, type Obj } from '../../shared/wire/validate.ts';
import { parseJobRun, RUN_STATUSES, type JobRun, type RunStatus } from '../../shared/jobs/runs.ts';

export const ACTIONS = ['list', 'runs', 'invoke'] as const;
export type JobsAction = (typeof ACTIONS)[number];

/** Most runs one `runs` answer carries. */
export const MAX_RUNS = 200;
/** Most jobs one host lists. */
export const MAX_JOBS = 1000;

export type JobsRequest =
  | { action: 'list' }
  /** The newest runs of one job (all jobs without `job`), newest last. */
  | { action: 'runs'; job?: string; limit: number; since?: number }
  /**
   * Runs the job now with these values (checked and quoted by the agent against the definition it
   * installed). `wait`: answer when the run ends; otherwise answer at once with the run started.
   */
  | { action: 'invoke'; job: string; params: Record<string, string>; invocation?: string; wait: boolean };

/** One installed job as the host sees it. */
export interface InstalledJob {
  name: string;
  schedule: string;
  enabled: boolean;
  /** The version (`at`) of the job document installed. */
  jobAt: number;
  nextRun?: number;
  running: boolean;
  lastStatus?: RunStatus;
  lastRunAt?: number;
  total: number;
  failures: number;
}

export type JobsResult = { action: 'list'; jobs: InstalledJob[] } | { action: 'runs'; runs: JobRun[] } | { action: 'invoke'; run: JobRun };

function params(o: Obj): Record<string, string> {
  const raw = o['params'] === undefined ? {} : obj(o['params'], 'params');
  const out: Record<string, string> = {};
  const entries = Object.entries(raw);
  if (entries.length > 32) throw new FlotillaError('bad-message', 'params: more than 32');
  for (const [k, v] of entries) {
    if (typeof v !== 'string' || v.length > 4096)
      throw new FlotillaError('bad-message', `params.${k.slice(0, 32)}: expected a string of at most 4096 characters`);
    out[k.slice(0, 64)] = v;
  }
  return out;
}

function parseRequest(o: Obj): JobsRequest {
  const action = o['action'] === undefined ? 'list' : oneOf(o, 'action', ACTIONS);
  if (action === 'list') return { action };
  if (action === 'runs') {
    const job = optStr(o, 'job', 64);
    const since = optInt(o, 'since');
    return { action, ...optional('job', job), limit: optInt(o, 'limit', 1, MAX_RUNS) ?? 20, ...optional('since', since) };
  }
  const invocation = optStr(o, 'invocation', 128);
  return {
    action,
    job: str(o, 'job', 64, 1),
    params: params(o),
    ...optional('invocation', invocation),
    wait: o['wait'] === undefined ? true : bool(o, 'wait'),
  };
}

function parseInstalled(raw: unknown, i: number): InstalledJob {
  const o = obj(raw, `jobs[${i}]`);
  const nextRun = optInt(o, 'nextRun');
  const lastRunAt = optInt(o, 'lastRunAt');
  return {
    name: str(o, 'name', 64, 1),
    schedule: str(o, 'schedule', 256),
    enabled: bool(o, 'enabled'),
    jobAt: int(o, 'jobAt'),
    ...optional('nextRun', nextRun),
    running: bool(o, 'running'),
    ...(o['lastStatus'] === undefined ? {} : { lastStatus: oneOf(o, 'lastStatus', RUN_STATUSES) }),
    ...optional('lastRunAt', lastRunAt),
    total: int(o, 'total'),
    failures: int(o, 'failures'),
  };
}

function list<T>(d: Obj, key: string, max: number, each: (raw: unknown, i: number) => T): T[] {
  const raw = d[key];
  if (!Array.isArray(raw) || raw.length > max) throw new FlotillaError('bad-message', `${key}: expected a list of at most ${max}`);
  return raw.map(each);
}

function parseResult(d: Obj): JobsResult {
  const action = oneOf(d, 'action', ACTIONS);
  if (action === 'list') return { action, jobs: list(d, 'jobs', MAX_JOBS, parseInstalled) };
  if (action === 'runs') return { action, runs: list(d, 'runs', MAX_RUNS, (r, i) => parseJobRun(r, `runs[${i}]`)) };
  return { action, run: parseJobRun(d['run']) };
}

export const spec = defineCapability({
  name: 'jobs',
  doc: 'jobs installed from the fleet job documents: list with next run and last status, run logs, invoke now with parameters',
  request: { type: 'jobs', parse: parseRequest },
  result: parseResult,
  role: (r) => (r.action === 'invoke' ? 'operator' : 'viewer'),
  web: { hostTab: { label: 'Jobs', order: 40 } },
  traits: { audit: (r) => (r.action === 'invoke' ? `invoke ${r.job}` : r.action === 'runs' ? `runs ${r.job ?? '*'}` : 'list') },
});
