// The job journal: every run of every job on this host, and what the scheduler must remember
// across restarts. <state>/jobs/<job>.jsonl holds one line per run state (append-only, 0600; the
// last line of a run id wins), compacted to the job's keepRuns and keepDays when it holds twice
// that; <state>/jobs/marks.json (written atomically) holds the `once` marks and the last planned
// time fired per job. A run still `running` when the agent died is recorded as `killed` at the
// next start. Memory is bounded: the newest MEMORY_RUNS runs of each job, the newest FULL_TAIL_RUNS of them with tails of RUN_TAIL_MAX, older ones of DOC_TAIL_MAX.

import { appendFile, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readJson, writeJsonAtomic } from '../../../node/files.ts';
import { JOB_NAME } from '../../../shared/jobs/job.ts';
import { parseJobRun, tail, DOC_TAIL_MAX, RUN_TAIL_MAX, type JobRun } from '../../../shared/jobs/runs.ts';
import { isObj } from '../../../shared/wire/validate.ts';

/** Runs of one job held in memory (what `runs` answers from and the jobruns document is made of). */
export const MEMORY_RUNS = 200;
/** Of those, the newest keep their full tails (RUN_TAIL_MAX); older ones keep DOC_TAIL_MAX, so memory stays small. */
export const FULL_TAIL_RUNS = 10;

export interface JobMarks {
  /** Jobs whose `once` run happened on this host (never again), by name → the run's time. */
  once: Record<string, number>;
  /** The last planned time fired per job (catch-up reads it at start). */
  last: Record<string, number>;
  /** Runs and failures counted since each job was installed. */
  counts: Record<string, { total: number; failures: number }>;
  /** The version of each job's jobruns document last stored (the store refuses an older one). */
  docVersions: Record<string, number>;
  /** Jobs installed here (so a removal decided after a restart is still reported), by name. */
  installed: Record<string, { jobAt: number; rid: string; signer: string }>;
}

export interface JobJournal {
  readonly marks: JobMarks;
  /** The newest runs of a job in memory, oldest first. */
  runs(job: string): JobRun[];
  /** Jobs with runs on file. */
  jobs(): string[];
  /** Records a run's state (a new run or a later state of the same id). */
  record(run: JobRun, keep: { keepRuns: number; keepDays: number }): Promise<void>;
  saveMarks(): Promise<void>;
  /** Runs found `running` at open (the agent died under them), now recorded `killed`. */
  readonly interrupted: JobRun[];
}

function clip(run: JobRun, max = RUN_TAIL_MAX): JobRun {
  return run.stdout.length <= max && run.stderr.length <= max ? run : { ...run, stdout: tail(run.stdout, max), stderr: tail(run.stderr, max) };
}

/** The newest runs with full tails, the older ones cut to DOC_TAIL_MAX. */
function bounded(runs: JobRun[]): JobRun[] {
  const full = runs.length - FULL_TAIL_RUNS;
  return runs.map((r, i) => (i < full ? clip(r, DOC_TAIL_MAX) : r));
}

/** The runs a file's lines describe: the last line of each id, in order of first appearance, broken lines skipped. */
export function parseLines(text: string): JobRun[] {
  const byId = new Map<string, JobRun>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const run = parseJobRun(JSON.parse(line));
      byId.set(run.id, run);
    } catch {
      // A line cut by a crash, or edited by hand: skipped.
    }
  }
  return [...byId.values()];
}

/** The runs kept: within keepDays of `now` and the newest keepRuns. */
export function keepRuns(runs: JobRun[], keep: { keepRuns: number; keepDays: number }, now: number): JobRun[] {
  const oldest = now - keep.keepDays * 86_400_000;
  return runs.filter((r) => (r.endedAt ?? r.startedAt ?? r.planned) >= oldest || r.status === 'running').slice(-keep.keepRuns);
}

export async function openJobJournal(stateDir: string, now: () => number = Date.now): Promise<JobJournal> {
  const dir = join(stateDir, 'jobs');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const marksPath = join(dir, 'marks.json');
  const raw = await readJson(marksPath, 'the job journal marks').catch(() => undefined);
  const rec = <T>(v: unknown): Record<string, T> => (isObj(v) ? (v as Record<string, T>) : {});
  const marks: JobMarks = isObj(raw)
    ? { once: rec(raw['once']), last: rec(raw['last']), counts: rec(raw['counts']), docVersions: rec(raw['docVersions']), installed: rec(raw['installed']) }
    : { once: {}, last: {}, counts: {}, docVersions: {}, installed: {} };
  const memory = new Map<string, JobRun[]>();
  /** Lines in each job's file since it was last compacted. */
  const lines = new Map<string, number>();
  const interrupted: JobRun[] = [];
  const fileOf = (job: string) => join(dir, `${job}.jsonl`);
  let writing: Promise<void> = Promise.resolve();

  for (const name of await readdir(dir)) {
    const m = /^(.+)\.jsonl$/.exec(name);
    if (!m || !JOB_NAME.test(m[1]!)) continue;
    const text = await readFile(join(dir, name), 'utf8').catch(() => '');
    // A line torn by a crash is ended, so the next one appended is not glued to it.
    if (text.length > 0 && !text.endsWith('\n')) await appendFile(join(dir, name), '\n', { mode: 0o600 });
    const runs = parseLines(text);
    lines.set(m[1]!, text.split('\n').filter(Boolean).length);
    memory.set(m[1]!, bounded(runs.slice(-MEMORY_RUNS)));
  }
  for (const [job, runs] of memory)
    for (let i = 0; i < runs.length; i++) {
      const r = runs[i]!;
      if (r.status !== 'running') continue;
      const killed: JobRun = { ...r, status: 'killed', endedAt: now(), error: 'the agent stopped while it ran' };
      runs[i] = killed;
      interrupted.push(killed);
      await appendFile(fileOf(job), JSON.stringify(killed) + '\n', { mode: 0o600 });
    }

  async function compact(job: string, keep: { keepRuns: number; keepDays: number }): Promise<void> {
    const path = fileOf(job);
    const kept = keepRuns(parseLines(await readFile(path, 'utf8').catch(() => '')), keep, now());
    const tmp = `${path}.tmp`;
    await writeFile(tmp, kept.map((r) => JSON.stringify(r) + '\n').join(''), { mode: 0o600 });
    await rename(tmp, path);
    lines.set(job, kept.length);
  }

  const journal: JobJournal = {
    marks,
    interrupted,
    runs: (job) => memory.get(job) ?? [],
    jobs: () => [...memory.keys()],
    record(run, keep) {
      const clipped = clip(run);
      const list = memory.get(run.job) ?? [];
      const at = list.findIndex((r) => r.id === run.id);
      if (at >= 0) list[at] = clipped;
      else list.push(clipped);
      memory.set(run.job, bounded(keepRuns(list, { keepRuns: Math.min(keep.keepRuns, MEMORY_RUNS), keepDays: keep.keepDays }, now())));
      // One write at a time: lines of one run never interleave, compaction never races an append.
      const next = writing.then(async () => {
        const path = fileOf(run.job);
        await appendFile(path, JSON.stringify(clipped) + '\n', { mode: 0o600 });
        const n = (lines.get(run.job) ?? 0) + 1;
        lines.set(run.job, n);
        if (n > 2 * keep.keepRuns + 16) await compact(run.job, keep);
      });
      writing = next.catch(() => undefined);
      return next;
    },
    async saveMarks() {
      const next = writing.then(() => writeJsonAtomic(marksPath, marks, 0o600));
      writing = next.catch(() => undefined);
      return next;
    },
  };
  return journal;
}
