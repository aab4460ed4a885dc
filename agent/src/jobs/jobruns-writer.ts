// The jobruns documents: per host × job, the newest runs (DOC_RUNS_MAX, tails cut to DOC_TAIL_MAX)
// sealed for the fleet's devices through the mailbox (PLACEMENT.jobruns), so a device that opens
// later sees what ran while nobody was connected. Debounced: all changed jobs go together, at most
// once per `everyMs`; a put that fails is tried again later and never holds up a run.

import { DOC_RUNS_MAX, DOC_TAIL_MAX, tail, type JobRunsDoc } from '../../../shared/jobs/runs.ts';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import type { Mailbox } from '../mailbox.ts';
import type { Logger } from '../../../node/log.ts';
import type { JobJournal } from './job-journal.ts';

/** What the manager says of a job when its document must be written again. */
export interface JobInfo {
  jobAt: number;
  installed: boolean;
  nextRun?: number;
}

export interface JobRunsWriter {
  changed(job: string, info: JobInfo): void;
  /** Writes what is pending now (the agent stopping). */
  flush(): Promise<void>;
}

/** The shortest wait before a first write: runs ending together go in one flush. */
const GATHER_MS = 1000;

/** The jobruns document of one job on this host. */
export function jobRunsDoc(journal: JobJournal, job: string, info: JobInfo, host: { id: string; hostname: string }, at: number): JobRunsDoc {
  const counts = journal.marks.counts[job] ?? { total: 0, failures: 0 };
  return {
    type: 'jobruns',
    job,
    host: host.id,
    hostname: host.hostname,
    jobAt: info.jobAt,
    installed: info.installed,
    ...(info.installed && info.nextRun !== undefined ? { nextRun: info.nextRun } : {}),
    total: counts.total,
    failures: counts.failures,
    runs: journal
      .runs(job)
      .slice(-DOC_RUNS_MAX)
      .map((r) => ({ ...r, stdout: tail(r.stdout, DOC_TAIL_MAX), stderr: tail(r.stderr, DOC_TAIL_MAX) })),
    at,
  };
}

export function createJobRunsWriter(options: {
  journal: JobJournal;
  log: Logger;
  mailbox: Pick<Mailbox, 'putForDevices'>;
  hostId: string;
  hostname: string;
  everyMs: number;
  now: () => number;
}): JobRunsWriter {
  const { journal, log, mailbox, now } = options;
  const dirty = new Map<string, JobInfo>();
  let timer: NodeJS.Timeout | undefined;
  let last = 0;
  let writing: Promise<void> | undefined;

  function soon(ms: number): void {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, ms);
    timer.unref();
  }

  async function write(): Promise<void> {
    last = now();
    const batch = [...dirty];
    dirty.clear();
    let failed = false;
    for (const [job, info] of batch) {
      if (failed) {
        if (!dirty.has(job)) dirty.set(job, info);
        continue;
      }
      try {
        const doc = jobRunsDoc(journal, job, info, { id: options.hostId, hostname: options.hostname }, now());
        const version = await mailbox.putForDevices(doc, `${options.hostId}:${job}`, (journal.marks.docVersions[job] ?? 0) + 1);
        journal.marks.docVersions[job] = version;
        log('debug', 'jobruns-stored', { job, version, runs: doc.runs.length, installed: info.installed });
      } catch (error) {
        failed = true;
        if (!dirty.has(job)) dirty.set(job, info); // a newer change wins over the one that failed
        log('warn', 'jobruns-not-stored', { job, error: error instanceof FlotillaError ? `${error.code}: ${error.detail ?? ''}` : String(error) });
      }
    }
    await journal.saveMarks().catch(() => undefined);
    if (failed) soon(10_000 + Math.random() * 20_000);
    else if (dirty.size > 0) soon(Math.max(GATHER_MS, last + options.everyMs - now()));
  }

  function flush(): Promise<void> {
    writing ??= write().finally(() => (writing = undefined));
    return writing;
  }

  return {
    changed(job, info) {
      dirty.set(job, info);
      if (!writing) soon(Math.max(GATHER_MS, last + options.everyMs - now()));
    },
    async flush() {
      clearTimeout(timer);
      timer = undefined;
      if (writing) await writing;
      if (dirty.size > 0) await flush();
    },
  };
}
