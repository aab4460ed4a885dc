// What the Jobs page asks of the fleet: saving a job document through the fleet store, and the
// `jobs` capability on a host (its runs with full logs, invoking a job now). The agent checks the
// role and the parameters again against the definition it installed: these are conveniences.

import { callOk } from '../../../shared/controller/agent-connection.ts';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import type { JobDoc } from '../../../shared/jobs/job.ts';
import type { JobRun, JobRunsDoc } from '../../../shared/jobs/runs.ts';
import { spec as jobs } from '../../../capabilities/jobs/spec.ts';
import type { FleetState } from './state/fleet.svelte.ts';
import { resolveTargets } from './state/targets.ts';

/** Whether this device may save, change and invoke jobs (operators and admins). */
export function canOperate(fleet: FleetState): boolean {
  return fleet.device.cert.body.role !== 'viewer';
}

/** The stored document without the view's `by`. */
function bare(job: JobDoc & { by?: string }): JobDoc {
  const { by: _by, ...doc } = job;
  return doc;
}

/** Writes a job document; says so when another device's newer change won. */
export async function saveJob(fleet: FleetState, job: JobDoc): Promise<void> {
  if (!canOperate(fleet)) throw new FlotillaError('forbidden', 'a viewer device cannot change jobs');
  const won = await fleet.store.write(bare(job), job.name);
  if (!won) throw new FlotillaError('conflict', `another device changed job ${job.name} after you opened it; open it again`);
}

export async function setEnabled(fleet: FleetState, job: JobDoc, enabled: boolean): Promise<void> {
  await saveJob(fleet, { ...bare(job), enabled, at: Date.now() });
}

/** Leaves a tombstone: agents uninstall the job. */
export async function deleteJob(fleet: FleetState, job: JobDoc): Promise<void> {
  await saveJob(fleet, { ...bare(job), deleted: true, at: Date.now() });
}

/** A host that runs (or should run) a job. */
export interface JobHost {
  id: string;
  label: string;
  online: boolean;
}

/** The job's hosts: those that report it installed, and accepted hosts its target matches (they may not have reported yet). */
export function jobHosts(fleet: FleetState, job: JobDoc, docs: readonly JobRunsDoc[]): JobHost[] {
  const out = new Map<string, JobHost>();
  const resolved = resolveTargets(job.target, fleet.hosts, fleet.presence);
  if (resolved.ok) for (const t of resolved.targets) out.set(t.id, t);
  for (const d of docs)
    if (d.job === job.name && d.installed && !out.has(d.host) && !fleet.removed.has(d.host))
      out.set(d.host, { id: d.host, label: d.hostname, online: fleet.presence.get(d.host)?.online ?? false });
  return [...out.values()].sort((a, b) => a.label.localeCompare(b.label));
}

/** Asks a host to run a job now with these values and waits for the run to end. */
export async function invokeOn(fleet: FleetState, hostId: string, job: string, params: Record<string, string>, invocation: string): Promise<JobRun> {
  const connection = await fleet.controller.connect(hostId);
  const data = await callOk(connection, jobs, { action: 'invoke', job, params, invocation, wait: true });
  if (data.action !== 'invoke') throw new FlotillaError('bad-message', `the host answered ${data.action} to invoke`);
  return data.run;
}

/** A run's full log (64 KiB tails) from the host's job journal; undefined when the host no longer keeps it. */
export async function fullRun(fleet: FleetState, hostId: string, run: Pick<JobRun, 'id' | 'job' | 'planned'>): Promise<JobRun | undefined> {
  const connection = await fleet.controller.connect(hostId);
  const data = await callOk(connection, jobs, { action: 'runs', job: run.job, limit: 200, since: run.planned - 1 });
  if (data.action !== 'runs') throw new FlotillaError('bad-message', `the host answered ${data.action} to runs`);
  return data.runs.find((r) => r.id === run.id);
}

/** The runs of every job installed on one host, newest last. */
export async function hostRuns(fleet: FleetState, hostId: string, job?: string): Promise<JobRun[]> {
  const connection = await fleet.controller.connect(hostId);
  const data = await callOk(connection, jobs, { action: 'runs', ...(job === undefined ? {} : { job }), limit: 50 });
  if (data.action !== 'runs') throw new FlotillaError('bad-message', `the host answered ${data.action} to runs`);
  return data.runs;
}

/** An invocation id, unique enough to find the runs of one "Run now" on every host. */
export function newInvocation(): string {
  return `web-${Date.now().toString(36)}-${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36)}`;
}
