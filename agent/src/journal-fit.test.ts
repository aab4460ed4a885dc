import { describe, it, expect } from 'vitest';
import { fitEntries } from './journal-fit.ts';
import type { JournalEntry } from './journal.ts';

const entry = (task: string, stdout: string, summary = ''): JournalEntry => ({
  task,
  op: 'exec',
  status: 'ok',
  device: 'd',
  summary,
  startedAt: 1,
  stdout,
  stderr: '',
  truncated: false,
});
const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)).length;

describe('fitEntries', () => {
  it('cuts large output to fit the budget and marks it truncated', () => {
    const fitted = fitEntries([entry('a', 'x'.repeat(300_000)), entry('b', 'small')], 100_000);
    expect(bytes(fitted.entries)).toBeLessThanOrEqual(100_000);
    expect(fitted.entries.map((e) => [e.task, e.truncated])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    expect(fitted.entries[1]!.stdout).toBe('small');
    expect(fitted.omitted).toEqual([]);
  });

  it('counts JSON escapes, and names the entries that do not fit at all', () => {
    const fitted = fitEntries([entry('a', '\u0001'.repeat(50_000)), ...Array.from({ length: 40 }, (_, i) => entry(`t${i}`, '', 's'.repeat(1000)))], 20_000);
    expect(bytes(fitted.entries)).toBeLessThanOrEqual(20_000);
    expect(fitted.omitted.length).toBeGreaterThan(0);
    expect(fitted.entries.length + fitted.omitted.length).toBe(41);
  });
});
