import { describe, expect, test } from 'vitest';
import type { TaskRecord } from '../db/schema.ts';
import { FETCH_LOST, applyJournal, awaitingByHost, combineParts, journalIds, parseJournal, type JournalResult } from './journal-collect.ts';

const host = {
  hostId: 'h1',
  label: 'alpha',
  status: 'running' as const,
  exitCode: undefined,
  stdout: '',
  stderr: '',
  truncated: false,
  error: undefined,
  startedAt: 1000,
  durationMs: undefined,
};
const task = (o: Partial<TaskRecord>): TaskRecord => ({
  id: 't1',
  selector: '*',
  kind: 'push',
  command: 'push',
  device: 'd',
  startedAt: 1000,
  endedAt: undefined,
  hosts: [host],
  ...o,
});
const entry = (o: Partial<JournalResult>): JournalResult => ({
  task: 't1',
  status: 'ok',
  startedAt: 1000,
  endedAt: 2000,
  exitCode: undefined,
  error: undefined,
  errorCode: undefined,
  stdout: '',
  stderr: '',
  truncated: false,
  summary: '/srv/a.txt',
  size: 23,
  ...o,
});

describe('journal collection', () => {
  test('a push of several files is asked for as one journal id per file', () => {
    expect(journalIds({ id: 't1', parts: 3 })).toEqual(['t1.0', 't1.1', 't1.2']);
    expect(journalIds({ id: 't1' })).toEqual(['t1']);
    expect(awaitingByHost([task({ parts: 2 }), task({ id: 't2', kind: 'exec' })], new Set(['t2'])).get('h1')).toEqual(['t1.0', 't1.1']);
  });

  test('parts all ok: ok, one line per file', () => {
    const done = combineParts([entry({ task: 't1.0' }), entry({ task: 't1.1', summary: '/srv/b.bin', size: 2_000_000, endedAt: 5000 })]);
    expect(done).toMatchObject({ status: 'ok', endedAt: 5000, stdout: 'pushed a.txt (23 B) → /srv/a.txt\npushed b.bin (2.0 MB) → /srv/b.bin\n' });
  });

  test('the first part that failed says what happened; one never started after a closed page is interrupted', () => {
    const broken = combineParts([
      entry({}),
      entry({ status: 'failed', summary: '/srv/b.bin', error: 'The connection closed.', errorCode: 'channel-closed' }),
      'missing',
    ]);
    expect(broken).toMatchObject({ status: 'failed', error: 'file 2 of 3 (/srv/b.bin): The connection closed.', stdout: 'pushed a.txt (23 B) → /srv/a.txt\n' });
    expect(combineParts([entry({}), entry({ status: 'cancelled', summary: '/srv/b.bin' })])).toMatchObject({
      status: 'interrupted',
      error: 'the page closed while file 2 of 2 (/srv/b.bin) was on its way: it was not written',
    });
    expect(combineParts([entry({}), 'missing'])).toMatchObject({
      status: 'interrupted',
      error: 'the page closed after 1 of 2 files: file 2 of 2 never reached the host',
    });
    expect(combineParts(['missing', 'missing'])).toBe('missing');
    expect(combineParts([entry({}), entry({ status: 'running' })])).toMatchObject({ status: 'running' });
  });

  test('applyJournal fills the host in; a fetch says its file must be fetched again', () => {
    const pushed = applyJournal(task({ parts: 2 }), 'h1', [entry({}), entry({ summary: '/srv/b' })]);
    expect(pushed.hosts[0]).toMatchObject({ status: 'ok', durationMs: 1000 });
    expect(pushed.endedAt).toBe(2000);
    const fetched = applyJournal(task({ kind: 'fetch' }), 'h1', [entry({ summary: '/etc/motd' })]);
    expect(fetched.hosts[0]).toMatchObject({ status: 'ok', note: FETCH_LOST });
    expect(applyJournal(task({ kind: 'exec' }), 'h1', ['missing']).hosts[0]).toMatchObject({ status: 'interrupted' });
  });

  test('entries from the host are validated', () => {
    const parsed = parseJournal({
      entries: [{ task: 't1', status: 'ok', startedAt: 1, stdout: '', stderr: '', summary: '/x', data: { size: 5 } }, { task: 't2', status: 'bogus' }, 7],
    });
    expect(parsed).toHaveLength(1);
    expect(parsed[0]).toMatchObject({ summary: '/x', size: 5 });
  });
});
