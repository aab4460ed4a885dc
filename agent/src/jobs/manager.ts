// The agent's job manager (docs/architecture.md, "Jobs on the agent"): installs the fleet's job
// documents whose target matches this host, fires them on schedule with one timer for the
// earliest due job, runs them (runner.ts) under their overlap, timeout and retry policy, records
// every run in the job journal (job-journal.ts) and reports the newest runs to the devices as
// jobruns documents (jobruns-writer.ts). It works with no controller connected: everything it
// needs came through the store and stays in the state directory.

import { hostname } from 'node:os';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { parseSchedule, renderCommand, resolveParams, type JobDoc, type Schedule } from '../../../shared/jobs/job.ts';
import { isFailure, type JobRun, type Trigger } from '../../../shared/jobs/runs.ts';
import { matchesSelector, parseSelector } from '../../../shared/controller/selector.ts';
import type { InstalledJob } from '../../../capabilities/jobs/spec.ts';
import type { KeptDoc, Mailbox } from '../mailbox.ts';
import type { AgentConfig } from '../config.ts';
import type { AgentState } from '../state.ts';
import type { AuditLog } from '../audit.ts';
import type { Logger } from '../../../node/log.ts';
import type { JobJournal } from './job-journal.ts';
import { missedRun, nextPlanned, splay } from './schedule.ts';
import { startRun, type StartedRun } from './runner.ts';
import { createJobRunsWriter, type JobRunsWriter } from './jobruns-writer.ts';

/** Longest single wait of the timer (setTimeout's limit is 2^31-1 ms); it plans again then. */
const MAX_WAIT_MS = 3_600_000;

interface Due {
  planned: number;
  trigger: Trigger;
  attempt: number;
  params?: Record<string, string>;
  invocation?: string;
  by?: string;
  /** Called with the run once it ends (an invoke that waits), or at once with a skipped one. */
  onEnd?: (run: JobRun) => void;
  onStart?: (run: JobRun) => void;
}

interface Installed {
  doc: JobDoc;
  rid: string;
  signer: KeptDoc['signer'];
  schedule: Schedule;
  anchor: number;
  /** The next planned time and when it fires (planned + splay). */
  next: { planned: number; fireAt: number } | undefined;
  active: { run: JobRun; proc?: StartedRun; done: Promise<void> } | undefined;
  /** One due run waiting for the active one (overlap `queue`, or the run that replaces it). */
  waiting: Due | undefined;
  retry: NodeJS.Timeout | undefined;
}

export interface JobManagerOptions {
  config: AgentConfig;
  state: AgentState;
  audit: AuditLog;
  log: Logger;
  mailbox: Pick<Mailbox, 'documents' | 'self' | 'putForDevices' | 'sync'>;
  /** The job journal (openJobJournal), opened before the agent starts listening. */
  journal: JobJournal;
  now?: () => number;
  /** Debounce of the jobruns documents (ms): at most one put per record in this time. */
  docEveryMs?: number;
}

export interface JobManager {
  readonly journal: JobJournal;
  /** Installs and removes jobs from the kept documents, this host's facts and tags and the revocation list. */
  reconcile(reason: string): Promise<void>;
  list(): InstalledJob[];
  runs(job: string | undefined, limit: number, since?: number): JobRun[];
  /** Runs an installed job now; resolves with the run started (or skipped), and `ended` when it ends. */
  invoke(name: string, given: Record<string, string>, who: { invocation?: string; by?: string }): Promise<{ started: JobRun; ended: Promise<JobRun> }>;
  isInstalled(name: string): boolean;
  stop(): Promise<void>;
}

export function createJobManager(options: JobManagerOptions): JobManager {
  const { config, state, audit, log, mailbox, journal } = options;
  const now = options.now ?? Date.now;
  for (const run of journal.interrupted) log('warn', 'job-run-interrupted', { job: run.job, run: run.id });
  const installed = new Map<string, Installed>();
  const writer: JobRunsWriter = createJobRunsWriter({
    journal,
    log,
    mailbox,
    hostId: state.identity.id,
    hostname: hostname().slice(0, 255),
    everyMs: options.docEveryMs ?? 10_000,
    now,
  });
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let reconciling: Promise<void> = Promise.resolve();

  // ---- runs ----------------------------------------------------------------------------------

  function count(job: string, run: JobRun): void {
    const c = (journal.marks.counts[job] ??= { total: 0, failures: 0 });
    c.total++;
    if (isFailure(run)) c.failures++;
  }

  async function record(inst: Installed, run: JobRun): Promise<void> {
    await journal.record(run, inst.doc.policy).catch((error: unknown) => log('error', 'job-journal-failed', { job: run.job, error: String(error) }));
  }

  async function finished(inst: Installed, run: JobRun): Promise<void> {
    count(inst.doc.name, run);
    await record(inst, run);
    await journal.saveMarks().catch((error: unknown) => log('error', 'job-journal-failed', { error: String(error) }));
    log(run.status === 'ok' || run.status === 'skipped' ? 'info' : 'warn', 'job-run-ended', {
      job: run.job,
      run: run.id,
      status: run.status,
      ...(run.exit === undefined ? {} : { exit: run.exit }),
      trigger: run.trigger,
    });
    writer.changed(inst.doc.name, docInfo(inst));
  }

  function runId(job: string, due: Due): string {
    return due.invocation ? `${job}.${due.invocation}`.slice(0, 128) : `${job}.${due.planned}.${due.attempt}`;
  }

  function baseRun(inst: Installed, due: Due): JobRun {
    return {
      id: runId(inst.doc.name, due),
      job: inst.doc.name,
      planned: due.planned,
      status: 'running',
      stdout: '',
      stderr: '',
      attempt: due.attempt,
      trigger: due.trigger,
      ...(due.invocation ? { invocation: due.invocation } : {}),
      ...(due.params ? { params: due.params } : {}),
      ...(due.by ? { by: due.by } : {}),
    };
  }

  /** A due run: started, skipped, queued or replacing the active one, by the job's overlap policy. */
  function fire(inst: Installed, due: Due): void {
    if (!inst.active) return void begin(inst, due);
    const policy = inst.doc.policy.overlap;
    if (policy === 'queue' && !inst.waiting) {
      inst.waiting = due;
      return;
    }
    if (policy === 'replace') {
      if (inst.waiting) skip(inst, inst.waiting, 'replaced before it started');
      inst.waiting = due;
      inst.active.proc?.kill();
      return;
    }
    skip(inst, due, policy === 'queue' ? 'a run is already waiting (overlap queue)' : `run ${inst.active.run.id} was still running (overlap skip)`);
  }

  function skip(inst: Installed, due: Due, why: string): void {
    const t = now();
    const run: JobRun = { ...baseRun(inst, due), status: 'skipped', startedAt: t, endedAt: t, error: why };
    due.onStart?.(run);
    due.onEnd?.(run);
    void finished(inst, run);
  }

  function begin(inst: Installed, due: Due): void {
    const run = baseRun(inst, due);
    const job = inst.doc;
    let rendered: { command: string; env: Record<string, string> };
    let done: () => void = () => undefined;
    const settled = new Promise<void>((r) => (done = r));
    inst.active = { run, done: settled };
    const end = async (ended: JobRun) => {
      inst.active = undefined;
      await finished(inst, ended);
      due.onEnd?.(ended);
      done();
      if (ended.status === 'failed' || ended.status === 'timeout' || ended.status === 'error') scheduleRetry(inst, due);
      const next = inst.waiting;
      inst.waiting = undefined;
      if (next && installed.get(job.name) === inst && !stopped) begin(inst, next);
      arm();
    };
    void (async () => {
      try {
        const values = due.params ?? resolveParams(job);
        rendered = renderCommand(job, values);
        run.startedAt = now();
        const proc = await startRun(job, rendered, config);
        inst.active!.proc = proc;
        log('info', 'job-run-started', { job: job.name, run: run.id, trigger: run.trigger, pid: proc.pid });
        due.onStart?.({ ...run });
        await record(inst, run);
        const outcome = await proc.done;
        await end({ ...run, ...outcome });
      } catch (error) {
        const reason = error instanceof FlotillaError ? (error.detail ?? error.message) : String(error);
        const t = now();
        const failed: JobRun = { ...run, status: 'error', startedAt: run.startedAt ?? t, endedAt: t, error: reason.slice(0, 1024) };
        due.onStart?.(failed);
        await end(failed);
      }
    })();
  }

  function scheduleRetry(inst: Installed, due: Due): void {
    const policy = inst.doc.policy;
    if (due.attempt >= policy.retries || stopped || due.trigger === 'invoke') return;
    const wait = policy.retryBackoffSec * 1000 * 2 ** due.attempt;
    clearTimeout(inst.retry);
    inst.retry = setTimeout(() => {
      inst.retry = undefined;
      if (installed.get(inst.doc.name) === inst) fire(inst, { planned: due.planned, trigger: 'retry', attempt: due.attempt + 1 });
    }, wait);
    inst.retry.unref();
  }

  // ---- the timer -----------------------------------------------------------------------------

  function plan(inst: Installed, after: number): void {
    const doc = inst.doc;
    if (!doc.enabled) return void (inst.next = undefined);
    const planned = nextPlanned({ schedule: inst.schedule, timezone: doc.timezone, anchor: inst.anchor }, after);
    inst.next = planned === undefined ? undefined : { planned, fireAt: planned + splay(doc.policy.splaySec) };
  }

  /** One timer for the earliest firing of all installed jobs. */
  function arm(): void {
    clearTimeout(timer);
    timer = undefined;
    if (stopped) return;
    let earliest = Infinity;
    for (const inst of installed.values()) if (inst.next && inst.next.fireAt < earliest) earliest = inst.next.fireAt;
    if (earliest === Infinity) return;
    timer = setTimeout(tick, Math.min(MAX_WAIT_MS, Math.max(0, earliest - now())));
  }

  function tick(): void {
    timer = undefined;
    const t = now();
    for (const inst of installed.values()) {
      const next = inst.next;
      if (!next || next.fireAt > t) continue;
      journal.marks.last[inst.doc.name] = next.planned;
      plan(inst, next.planned);
      fire(inst, { planned: next.planned, trigger: inst.schedule.kind === 'at' ? 'at' : 'schedule', attempt: 0 });
    }
    void journal.saveMarks().catch((error: unknown) => log('error', 'job-journal-failed', { error: String(error) }));
    arm();
  }

  // ---- install and remove --------------------------------------------------------------------

  function install(kept: KeptDoc<JobDoc>, start: number): void {
    const doc = kept.payload;
    const before = installed.get(doc.name);
    let schedule: Schedule;
    try {
      schedule = parseSchedule(doc.schedule, doc.timezone);
    } catch (error) {
      log('warn', 'job-refused', { job: doc.name, error: error instanceof FlotillaError ? error.detail : String(error) });
      return;
    }
    const last = journal.marks.last[doc.name];
    const inst: Installed = before ?? {
      doc,
      rid: kept.rid,
      signer: kept.signer,
      schedule,
      anchor: last ?? start,
      next: undefined,
      active: undefined,
      waiting: undefined,
      retry: undefined,
    };
    if (before && before.doc.at === doc.at && before.doc.enabled === doc.enabled) return;
    if (before) {
      // A new version: the same run goes on; the schedule starts again from now.
      Object.assign(inst, { doc, signer: kept.signer, schedule, anchor: last ?? start });
    } else installed.set(doc.name, inst);
    journal.marks.installed[doc.name] = { jobAt: doc.at, rid: kept.rid, signer: kept.signer.id };
    void journal.saveMarks().catch((error: unknown) => log('error', 'job-journal-failed', { error: String(error) }));
    log('info', 'job-installed', { job: doc.name, schedule: doc.schedule, enabled: doc.enabled, version: kept.version, by: kept.signer.name });
    audit.write({
      device: kept.signer.id,
      deviceName: kept.signer.name,
      role: kept.signer.role,
      request: 'job-installed',
      outcome: 'accepted',
      detail: `${doc.name} (${doc.schedule}${doc.enabled ? '' : ', disabled'})`,
      rid: kept.rid,
      via: 'store',
    });
    plan(inst, start);
    // `once`: marked durably before it runs, so no restart runs it again.
    if (doc.enabled && schedule.kind === 'once' && journal.marks.once[doc.name] === undefined) {
      journal.marks.once[doc.name] = start;
      void journal.saveMarks().then(
        () => fire(inst, { planned: start, trigger: 'once', attempt: 0 }),
        (error: unknown) => log('error', 'job-journal-failed', { job: doc.name, error: String(error) }),
      );
    }
    if (!before && doc.enabled) {
      const missed = missedRun({ schedule, timezone: doc.timezone, anchor: inst.anchor }, last, start, doc.policy.catchUpSec);
      if (missed !== undefined) {
        journal.marks.last[doc.name] = missed;
        log('info', 'job-catch-up', { job: doc.name, planned: missed });
        fire(inst, { planned: missed, trigger: 'catch-up', attempt: 0 });
      }
    }
    writer.changed(doc.name, docInfo(inst));
  }

  /** Uninstalls a job (installed in this process, or before a restart as the journal's marks say). */
  function remove(name: string, why: string, device?: KeptDoc['signer']): void {
    const inst = installed.get(name);
    const mark = journal.marks.installed[name];
    if (!inst && !mark) return;
    installed.delete(name);
    delete journal.marks.installed[name];
    void journal.saveMarks().catch((error: unknown) => log('error', 'job-journal-failed', { error: String(error) }));
    if (inst) {
      clearTimeout(inst.retry);
      if (inst.waiting) skip(inst, inst.waiting, `the job was removed (${why})`);
      inst.waiting = undefined;
    }
    const revoked = why.startsWith('signed by a revoked');
    const signer = device ?? inst?.signer;
    log('info', 'job-removed', { job: name, reason: why });
    audit.write({
      device: signer?.id ?? mark?.signer ?? '',
      ...(signer?.name ? { deviceName: signer.name } : {}),
      request: 'job-removed',
      outcome: revoked ? 'refused' : 'accepted',
      ...(revoked ? { code: 'cert-revoked' } : {}),
      detail: `${name}: ${why}`,
      rid: inst?.rid ?? mark?.rid ?? '',
      via: 'store',
    });
    writer.changed(name, { jobAt: inst?.doc.at ?? mark?.jobAt ?? 0, installed: false });
  }

  async function reconcileNow(reason: string): Promise<void> {
    if (stopped) return;
    const me = await mailbox.self();
    if (!me) return;
    const revoked = new Set(state.revocation?.body.revoked ?? []);
    const seen = new Set<string>();
    const t = now();
    for (const kept of mailbox.documents('job')) {
      const doc = kept.payload;
      seen.add(doc.name);
      if (revoked.has(kept.signer.id)) {
        remove(doc.name, `signed by a revoked device (${kept.signer.name || kept.signer.id.slice(0, 8)})`, kept.signer);
        continue;
      }
      if (doc.deleted) {
        remove(doc.name, 'deleted', kept.signer);
        continue;
      }
      let matches: boolean;
      try {
        matches = matchesSelector(parseSelector(doc.target), me.host, me.selectors);
      } catch (error) {
        log('warn', 'job-target-unresolved', { job: doc.name, error: error instanceof FlotillaError ? error.detail : String(error) });
        continue;
      }
      if (!matches) {
        remove(doc.name, `this host no longer matches ${doc.target}`, kept.signer);
        continue;
      }
      install(kept as KeptDoc<JobDoc>, t);
    }
    for (const name of new Set([...installed.keys(), ...Object.keys(journal.marks.installed)])) if (!seen.has(name)) remove(name, 'its document is gone');
    log('debug', 'jobs-reconciled', { reason, installed: installed.size });
    arm();
  }

  // ---- reports -------------------------------------------------------------------------------

  function docInfo(inst: Installed): { jobAt: number; installed: boolean; nextRun?: number } {
    return { jobAt: inst.doc.at, installed: installed.get(inst.doc.name) === inst, ...(inst.next ? { nextRun: inst.next.planned } : {}) };
  }

  const manager: JobManager = {
    journal,
    reconcile(reason) {
      const run = reconciling.then(() => reconcileNow(reason));
      reconciling = run.catch((error: unknown) => log('error', 'jobs-reconcile-failed', { reason, error: String(error) }));
      return reconciling;
    },
    isInstalled: (name) => installed.has(name),
    list() {
      return [...installed.values()].map((inst) => {
        const runs = journal.runs(inst.doc.name);
        const last = runs.at(-1);
        const c = journal.marks.counts[inst.doc.name] ?? { total: 0, failures: 0 };
        return {
          name: inst.doc.name,
          schedule: inst.doc.schedule,
          enabled: inst.doc.enabled,
          jobAt: inst.doc.at,
          ...(inst.next ? { nextRun: inst.next.planned } : {}),
          running: inst.active !== undefined,
          ...(last ? { lastStatus: last.status, lastRunAt: last.startedAt ?? last.planned } : {}),
          total: c.total,
          failures: c.failures,
        };
      });
    },
    runs(job, limit, since) {
      const names = job ? [job] : journal.jobs();
      const all = names.flatMap((n) => journal.runs(n)).filter((r) => since === undefined || (r.startedAt ?? r.planned) >= since);
      return all.sort((a, b) => (a.startedAt ?? a.planned) - (b.startedAt ?? b.planned)).slice(-limit);
    },
    async invoke(name, given, who) {
      const inst = installed.get(name);
      if (!inst) throw new FlotillaError('not-found', `job ${name} is not installed on this host`);
      // Checked against the definition installed here, before anything runs: a bad value names its parameter.
      const params = resolveParams(inst.doc, given);
      renderCommand(inst.doc, params);
      let onEnd: (run: JobRun) => void = () => undefined;
      const ended = new Promise<JobRun>((r) => (onEnd = r));
      const started = await new Promise<JobRun>((onStart) => {
        const due: Due = { planned: now(), trigger: 'invoke', attempt: 0, params, onStart, onEnd };
        if (who.invocation) due.invocation = who.invocation;
        if (who.by) due.by = who.by;
        fire(inst, due);
        // Queued behind a running one: answer with the run as it waits.
        if (inst.waiting === due) onStart({ ...baseRun(inst, due) });
      });
      return { started, ended };
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      for (const inst of installed.values()) {
        clearTimeout(inst.retry);
        inst.waiting = undefined;
        inst.active?.proc?.kill();
      }
      await Promise.race([Promise.allSettled([...installed.values()].map((i) => i.active?.done)), new Promise((r) => setTimeout(r, 6000))]);
      // What ended last goes out now, unless the store is slow to answer: the agent stops anyway.
      await Promise.race([writer.flush(), new Promise((r) => setTimeout(r, 3000).unref())]);
    },
  };
  return manager;
}
