import { describe, expect, it } from 'vitest';
import { createLiveTasks, type OutputListener } from './live-tasks.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

function collector(): { listener: OutputListener; text: () => Record<'stdout' | 'stderr', string> } {
  const seen = { stdout: '', stderr: '' };
  return {
    listener: (stream, bytes) => {
      seen[stream] += dec.decode(bytes);
      return Promise.resolve();
    },
    text: () => ({ ...seen }),
  };
}

describe('live tasks', () => {
  it('sends a reattaching listener exactly what it missed, then the rest live', async () => {
    const tasks = createLiveTasks();
    const { live } = tasks.begin('t1', new AbortController());
    const first = collector();
    const firstAttach = live.attach({ stdout: 0, stderr: 0 }, first.listener);
    await live.output('stdout', enc.encode('one\n'));
    await live.output('stderr', enc.encode('warn\n'));
    await live.output('stdout', enc.encode('two\n'));
    firstAttach.detach(); // the first controller's connection dropped after "one\n"… it saw all three
    await live.output('stdout', enc.encode('three\n'));
    const again = collector();
    // It had seen 4 bytes of stdout ("one\n") and nothing of stderr.
    const attachment = live.attach({ stdout: 4, stderr: 0 }, again.listener);
    expect(attachment.lost).toBe(0);
    expect(again.text()).toEqual({ stdout: 'two\nthree\n', stderr: 'warn\n' });
    await live.output('stdout', enc.encode('four\n'));
    expect(again.text().stdout).toBe('two\nthree\nfour\n');
    expect(first.text().stdout).toBe('one\ntwo\n');
    expect(live.produced).toEqual({ stdout: 19, stderr: 5 });
  });

  it('splits a chunk at the offset the listener reached', () => {
    const { live } = createLiveTasks().begin('t2', new AbortController());
    void live.output('stdout', enc.encode('abcdef'));
    const c = collector();
    live.attach({ stdout: 2, stderr: 0 }, c.listener);
    expect(c.text().stdout).toBe('cdef');
  });

  it('keeps a bounded tail and reports how many missed bytes are gone', () => {
    const { live } = createLiveTasks(10).begin('t3', new AbortController());
    for (const piece of ['aaaa', 'bbbb', 'cccc', 'dddd', 'eeee']) void live.output('stdout', enc.encode(piece));
    const c = collector();
    const { lost } = live.attach({ stdout: 0, stderr: 0 }, c.listener);
    expect(c.text().stdout.length).toBeGreaterThanOrEqual(10);
    expect(c.text().stdout.endsWith('dddd' + 'eeee')).toBe(true);
    expect(lost + c.text().stdout.length).toBe(20);
    // Offsets beyond what was produced are clamped, never negative or duplicated.
    const d = collector();
    expect(live.attach({ stdout: 999, stderr: -5 }, d.listener).lost).toBe(0);
    expect(d.text()).toEqual({ stdout: '', stderr: '' });
  });

  it('resolves finished for every follower and forgets the task', async () => {
    const tasks = createLiveTasks();
    const abort = new AbortController();
    const { live, finish } = tasks.begin('t4', abort);
    expect(tasks.get('t4')).toBe(live);
    expect(tasks.get('t4')?.abort).toBe(abort);
    finish({ status: 'ok', exitCode: 0 });
    await expect(live.finished).resolves.toEqual({ status: 'ok', exitCode: 0 });
    expect(tasks.get('t4')).toBeUndefined();
    expect(tasks.size).toBe(0);
  });
});
