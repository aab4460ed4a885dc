import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openJournal, type JournalEntry } from './journal.ts';

const dirs: string[] = [];
const stateDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'journal-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const entry = (task: string, more: Partial<JournalEntry> = {}): JournalEntry => ({
  task,
  op: 'exec',
  status: 'running',
  device: 'dev',
  summary: 'true',
  startedAt: Date.now(),
  stdout: '',
  stderr: '',
  truncated: false,
  ...more,
});

describe('journal', () => {
  it('keeps one file per task, with the result, and no temp files', async () => {
    const state = stateDir();
    const journal = await openJournal(state);
    expect(await journal.begin(entry('t1'))).toBe(true);
    journal.note('t1', { pid: 42 });
    journal.appendOutput('t1', 'stdout', 'hello\n');
    await journal.update('t1', { status: 'ok', exitCode: 0, endedAt: Date.now() });
    expect(readdirSync(join(state, 'journal'))).toEqual(['t1.json']);
    const saved = JSON.parse(readFileSync(join(state, 'journal', 't1.json'), 'utf8')) as JournalEntry;
    expect(saved).toMatchObject({ task: 't1', status: 'ok', exitCode: 0, stdout: 'hello\n', pid: 42 });
  });

  it('refuses a task id twice, also after a restart', async () => {
    const state = stateDir();
    const journal = await openJournal(state);
    expect(await journal.begin(entry('t1'))).toBe(true);
    expect(await journal.begin(entry('t1'))).toBe(false);
    await journal.update('t1', { status: 'ok', exitCode: 0 });
    const again = await openJournal(state);
    expect(again.get('t1')).toMatchObject({ status: 'ok', exitCode: 0 });
    expect(await again.begin(entry('t1'))).toBe(false);
  });

  it('reports a run left running by a dead agent as interrupted, with the output it had flushed', async () => {
    const state = stateDir();
    const journal = await openJournal(state);
    await journal.begin(entry('t1'));
    journal.appendOutput('t1', 'stdout', 'partial');
    await journal.update('t1', {}); // an output flush
    const after = await openJournal(state);
    expect(after.recovered).toEqual(['t1']);
    expect(after.get('t1')).toMatchObject({ status: 'interrupted', stdout: 'partial', error: { code: 'channel-closed' } });
    expect(JSON.parse(readFileSync(join(state, 'journal', 't1.json'), 'utf8'))).toMatchObject({ status: 'interrupted' });
  });

  it('keeps the id of an unreadable record used (interrupted) and drops unfinished temp files', async () => {
    const state = stateDir();
    await openJournal(state);
    writeFileSync(join(state, 'journal', 'torn.json'), '{"task":"torn","sta');
    writeFileSync(join(state, 'journal', 'x.json.tmp'), '{');
    const journal = await openJournal(state);
    expect(journal.get('torn')).toMatchObject({ status: 'interrupted' });
    expect(await journal.begin(entry('torn'))).toBe(false);
    expect(readdirSync(join(state, 'journal')).sort()).toEqual(['torn.json']);
  });
});
