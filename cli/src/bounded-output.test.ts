import { describe, it, expect } from 'vitest';
import { createBoundedLinePrinter, createOutputCollector } from './bounded-output.ts';

const enc = (s: string) => new TextEncoder().encode(s);

describe('createBoundedLinePrinter', () => {
  it('prints whole lines per host and keeps at most one piece of a long line', async () => {
    const out: string[] = [];
    const printer = createBoundedLinePrinter(
      (t) => void out.push(t),
      (h) => `${h} | `,
      8,
    );
    await printer.write('a', 'stdout', enc('one\ntw'));
    await printer.write('b', 'stdout', enc('x\n'));
    await printer.write('a', 'stdout', enc('o\n0123456789abcdefXY'));
    await printer.flush('a');
    // One write per call, holding every line that call completed.
    expect(out).toEqual(['a | one\n', 'b | x\n', 'a | two\na | 01234567\na | 89abcdef\n', 'a | XY\n']);
  });

  it('keeps a multi-byte character whole across a cut', async () => {
    const out: string[] = [];
    const printer = createBoundedLinePrinter(
      (t) => void out.push(t),
      () => '',
      4,
    );
    await printer.write('a', 'stdout', enc('abcé\n')); // é is two bytes: the cut falls inside it
    expect(out.join('')).toBe('abc\né\n');
  });
});

describe('createOutputCollector', () => {
  it('keeps up to the cap per stream and counts the rest', () => {
    const c = createOutputCollector(5);
    c.add('h', 'stdout', enc('abc'));
    c.add('h', 'stdout', enc('defgh'));
    c.add('h', 'stderr', enc('ok'));
    expect(c.get('h')).toEqual({ stdout: 'abcde', stderr: 'ok', stdoutBytes: 8, stderrBytes: 2, truncated: true });
    expect(c.get('other').truncated).toBe(false);
  });
});
