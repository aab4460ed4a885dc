// Invoking a job now on the hosts its target selects: `flotilla jobs run` and the job API
// (`flotilla serve --api`) both come through here. The parameters are checked against the job
// document before anything is sent (the agent checks and quotes them again against the definition
// it installed: the agent is the one that enforces), the target is resolved as `run` resolves a
// selector, each online host gets the `jobs` capability's `invoke` (bounded by the controller's
// forks), and every host ends with one line: its run, or why there is none (offline, unreachable,
// refused, no answer). Nothing here waits without a bound.

import { FlotillaError, toWireError } from '../../../shared/wire/errors.ts';
import { randomBytes } from '../../../shared/identity/crypto.ts';
import { toBase32 } from '../../../shared/wire/encoding.ts';
import { callOnHost, type HostResult } from '../../../shared/controller/operations.ts';
import { uniqueLabels } from '../../../shared/controller/hosts.ts';
import { resolveParams, type JobDoc } from '../../../shared/jobs/job.ts';
import type { JobRun, RunStatus } from '../../../shared/jobs/runs.ts';
import type { OpenedDoc } from '../../../shared/store/fleet-sync.ts';
import { spec as jobsSpec, type JobsResult } from '../../../capabilities/jobs/spec.ts';
import type { Fleet } from '../fleet.ts';

/**
 * A host's outcome: its run's status, or `offline` (presence says so, not dialled), `unreachable`
 * (no connection), `refused` (the agent answered with an error: the job is not installed there,
 * a parameter it refuses, a role), `no-answer` (the bound passed first).
 */
export type HostRunStatus = RunStatus | 'offline' | 'unreachable' | 'refused' | 'no-answer';

/** One host's part of an invocation. */
export interface HostRun {
  host: string;
  hostname: string;
  status: HostRunStatus;
  /** The run the agent reported (with `wait`, once it ended; without, as it started). */
  run?: JobRun;
  /** Why there is no run, or what went wrong. */
  error?: string;
}

/** An invocation on every host of the job's target. */
export interface Invocation {
  invocation: string;
  job: string;
  /** The values sent, defaults filled in. */
  params: Record<string, string>;
  /** false: each host answered as its run started (`--async` on the command line). */
  wait: boolean;
  startedAt: number;
  endedAt?: number;
  /** Every host has its line. */
  done: boolean;
  /** Every host ran the job and it ended ok (or, without wait, started). */
  ok: boolean;
  hosts: HostRun[];
}

/** Longest bound for a host when the job has no timeout of its own. */
export const DEFAULT_WAIT_MS = 3600_000;
/** Added to the job's own timeout before a host is given up on (connecting, the agent's kill). */
export const GRACE_MS = 30_000;
/** Bound for an answer when not waiting for the run to end. */
export const START_BOUND_MS = 30_000;

/** An invocation id: `inv-` and 16 base32 characters. */
export function newInvocationId(): string {
  return `inv-${toBase32(randomBytes(10)).slice(0, 16)}`;
}

/** The jobs of the fleet state (deleted ones left out), by name. */
export function jobsOf(docs: readonly OpenedDoc[]): Map<string, JobDoc & { by: string }> {
  const out = new Map<string, JobDoc & { by: string }>();
  for (const d of docs) {
    if (d.payload.type !== 'job') continue;
    const job = d.payload;
    const known = out.get(job.name);
    if (known && known.at >= job.at) continue;
    out.set(job.name, { ...job, by: d.signer.name ?? d.signer.id });
  }
  for (const [name, job] of out) if (job.deleted) out.delete(name);
  return out;
}

/** The named job, or a `not-found` that lists the names there are. */
export function findJob(jobs: ReadonlyMap<string, JobDoc>, name: string): JobDoc {
  const job = jobs.get(name);
  if (job) return job;
  const names = [...jobs.keys()].sort();
  throw new FlotillaError(
    'not-found',
    `no job named ${JSON.stringify(name)} in the fleet (${names.length ? `jobs: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}` : 'none saved yet'})`,
  );
}

/** Parses `--param k=v` words into values (checked against the job later). */
export function paramsFromWords(words: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw new FlotillaError('usage', `--param ${JSON.stringify(word)} must be name=value, as in --param version=1.2.3`);
    out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}

/** The bound on one host's answer. */
export function hostBoundMs(job: Pick<JobDoc, 'policy'>, wait: boolean, timeoutMs?: number): number {
  if (timeoutMs !== undefined) return timeoutMs;
  if (!wait) return START_BOUND_MS;
  return job.policy.timeoutSec > 0 ? job.policy.timeoutSec * 1000 + GRACE_MS : DEFAULT_WAIT_MS;
}

/** One host's line from the capability's outcome. */
export function hostRunOf(result: HostResult<JobsResult>, hostname: string): HostRun {
  const base = { host: result.hostId, hostname };
  if (result.status === 'ok' && result.data?.action === 'invoke') return { ...base, status: result.data.run.status, run: result.data.run };
  const error = result.error ? (result.error.detail ?? result.error.code) : `status ${result.status}`;
  if (result.status === 'unreachable')
    return { ...base, status: result.error?.code === 'unreachable' && /offline/.test(error) ? 'offline' : 'unreachable', error };
  if (result.status === 'timeout' || result.status === 'cancelled') return { ...base, status: 'no-answer', error };
  return { ...base, status: 'refused', error: result.error ? `${result.error.code}: ${error}` : error };
}

/** Whether a host's line counts as success. */
export function hostOk(run: HostRun, wait: boolean): boolean {
  return run.status === 'ok' || (!wait && run.status === 'running');
}

/** What invokeJob needs of a connected fleet. */
export type InvokeFleet = Pick<Fleet, 'controller' | 'resolve'>;

export interface InvokeOptions {
  /** Values by name (checked by resolveParams: unknown, missing or malformed ones are refused before anything is sent). */
  params?: Record<string, string | number | boolean>;
  invocation?: string;
  /** Wait for each run to end (true), or only for it to start. */
  wait: boolean;
  /** Bound on each host's answer (default: the job's timeout plus GRACE_MS). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Each host's line as it settles. */
  onHost?: (run: HostRun) => void;
}

/** Checks the values locally: a `usage` error naming the parameter, before any host is contacted. */
export function checkInvocation(job: JobDoc, params: Record<string, string | number | boolean> = {}): Record<string, string> {
  if (job.deleted) throw new FlotillaError('not-found', `the job ${job.name} was deleted`);
  return resolveParams(job, params);
}

/** Invokes a job on every host its target selects; resolves once every host has its line. */
export async function invokeJob(fleet: InvokeFleet, job: JobDoc, options: InvokeOptions): Promise<Invocation> {
  const params = checkInvocation(job, options.params);
  const invocation = options.invocation ?? newInvocationId();
  const startedAt = Date.now();
  const targets = await fleet.resolve(job.target);
  const names = uniqueLabels(targets.map((t) => t.record));
  const label = (id: string) => names.get(id) ?? id.slice(0, 8);
  const bound = hostBoundMs(job, options.wait, options.timeoutMs);
  const lines = new Map<string, HostRun>();
  const settle = (run: HostRun) => {
    lines.set(run.host, run);
    options.onHost?.(run);
  };
  for (const t of targets)
    if (!t.online) settle({ host: t.record.id, hostname: label(t.record.id), status: 'offline', error: 'offline according to the signaling server' });
  const online = targets.filter((t) => t.online).map((t) => t.record.id);
  await fleet.controller.fanOut(
    online,
    async (id) => {
      const abort = new AbortController();
      const onOuterAbort = () => abort.abort();
      options.signal?.addEventListener('abort', onOuterAbort, { once: true });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<HostRun>((resolve) => {
        timer = setTimeout(() => {
          abort.abort();
          resolve({ host: id, hostname: label(id), status: 'no-answer', error: `no answer within ${Math.round(bound / 1000)}s` });
        }, bound);
      });
      try {
        const asked = callOnHost(
          fleet.controller,
          id,
          jobsSpec,
          { action: 'invoke', job: job.name, params, invocation, wait: options.wait },
          { signal: abort.signal },
        ).then((r) => hostRunOf(r, label(id)));
        settle(await Promise.race([asked, expired]));
      } catch (error) {
        settle({ host: id, hostname: label(id), status: 'unreachable', error: toWireError(error).detail ?? String(error) });
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onOuterAbort);
      }
    },
    (s) => {
      if (!s.ok && !lines.has(s.hostId)) settle({ host: s.hostId, hostname: label(s.hostId), status: 'unreachable', error: s.error.detail ?? s.error.message });
    },
  );
  const hosts = targets.map((t) => lines.get(t.record.id)!).filter(Boolean);
  return {
    invocation,
    job: job.name,
    params,
    wait: options.wait,
    startedAt,
    endedAt: Date.now(),
    done: true,
    ok: hosts.length > 0 && hosts.every((h) => hostOk(h, options.wait)),
    hosts,
  };
}
