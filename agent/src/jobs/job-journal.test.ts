import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openJobJournal, keepRuns, FULL_TAIL_RUNS } from './job-journal.ts';
import { DOC_TAIL_MAX, RUN_TAIL_MAX, type JobRun } from '../../../shared/jobs/runs.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'job-journal-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (i: number, fields: { [K in keyof JobRun]?: JobRun[K] | undefined } = {}): JobRun => ({
  id: `j.${i}.0`,
  job: 'j',
  planned: i,
  startedAt: i,
  endedAt: i + 1,
  status: 'ok',
  stdout: '',
  stderr: '',
  attempt: 0,
  trigger: 'schedule',
  ...(fields as Partial<JobRun>),
});

describe('job journal', () => {
  it('keeps runs by count and age, compacting its file (0600) to keepRuns', async () => {
    const now = 10 * 86_400_000;
    const journal = await openJobJournal(dir, () => now);
    const keep = { keepRuns: 5, keepDays: 30 };
    for (let i = 0; i < 40; i++) await journal.record(run(now - 1000 + i), keep);
    expect(journal.runs('j').map((r) => r.planned)).toEqual([35, 36, 37, 38, 39].map((i) => now - 1000 + i));
    const path = join(dir, 'jobs', 'j.jsonl');
    expect((await readFile(path, 'utf8')).split('\n').filter(Boolean).length).toBeLessThanOrEqual(2 * 5 + 16);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(keepRuns([run(1), run(now - 86_400_000 * 2)], { keepRuns: 10, keepDays: 1 }, now)).toEqual([]);
    expect(keepRuns([run(1), run(now - 1000)], { keepRuns: 10, keepDays: 1 }, now)).toEqual([run(now - 1000)]);
  });

  it('caps tails at RUN_TAIL_MAX with a visible notice', async () => {
    const journal = await openJobJournal(dir);
    await journal.record(run(Date.now(), { stdout: 'x'.repeat(RUN_TAIL_MAX + 500) }), { keepRuns: 5, keepDays: 30 });
    const out = journal.runs('j')[0]!.stdout;
    expect(out.length).toBe(RUN_TAIL_MAX);
    expect(out).toMatch(/^\[… \d+ characters cut …\]\n/);
  });

  it('keeps full tails in memory only for the newest FULL_TAIL_RUNS runs', async () => {
    const journal = await openJobJournal(dir);
    for (let i = 0; i < 15; i++) await journal.record(run(Date.now() + i, { stdout: 'y'.repeat(10_000) }), { keepRuns: 100, keepDays: 30 });
    const lengths = journal.runs('j').map((r) => r.stdout.length);
    expect(lengths).toEqual([...Array<number>(15 - FULL_TAIL_RUNS).fill(DOC_TAIL_MAX), ...Array<number>(FULL_TAIL_RUNS).fill(10_000)]);
    // The file keeps them whole.
    const onDisk = (await readFile(join(dir, 'jobs', 'j.jsonl'), 'utf8')).split('\n').filter(Boolean);
    expect(onDisk.every((l) => (JSON.parse(l) as JobRun).stdout.length === 10_000)).toBe(true);
  });

  it('records a run left running by a dead agent as killed at the next open, keeps marks, and skips a torn line', async () => {
    await mkdir(join(dir, 'jobs'));
    await writeFile(
      join(dir, 'jobs', 'j.jsonl'),
      JSON.stringify(run(Date.now())) + '\n' + JSON.stringify(run(Date.now(), { id: 'j.2.0', status: 'running', endedAt: undefined })) + '\n{"id":"j.3',
    );
    await writeFile(join(dir, 'jobs', 'marks.json'), JSON.stringify({ once: { j: 5 }, last: { j: 2 } }));
    const journal = await openJobJournal(dir);
    expect(journal.interrupted.map((r) => r.id)).toEqual(['j.2.0']);
    expect(journal.runs('j').map((r) => r.status)).toEqual(['ok', 'killed']);
    expect(journal.marks.once).toEqual({ j: 5 });
    const again = await openJobJournal(dir);
    expect(again.interrupted).toEqual([]);
    expect(again.runs('j').map((r) => r.status)).toEqual(['ok', 'killed']);
  });
});
