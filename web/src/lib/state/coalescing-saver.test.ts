import { describe, expect, it } from 'vitest';
import { coalescingSaver } from './coalescing-saver.ts';

/** A store whose writes finish only when the test says so. */
function slowStore() {
  const writes: number[] = [];
  const finish: Array<() => void> = [];
  return {
    writes,
    finishNext: async () => {
      finish.shift()?.();
      await new Promise((r) => setTimeout(r, 0));
    },
    save: (value: number) =>
      new Promise<void>((resolve) => {
        writes.push(value);
        finish.push(resolve);
      }),
  };
}

describe('coalescingSaver', () => {
  it('writes at once, then once more with the latest value for everything asked during a write', async () => {
    const store = slowStore();
    const saver = coalescingSaver(store.save, () => undefined);
    let value = 1;
    saver.soon(() => value);
    expect(store.writes).toEqual([1]);
    for (value = 2; value <= 15; value++) saver.soon(() => value);
    value = 15;
    expect(store.writes).toEqual([1]); // one in flight, nothing more yet
    await store.finishNext();
    expect(store.writes).toEqual([1, 15]); // the latest, read when the write starts
    await store.finishNext();
    expect(store.writes).toEqual([1, 15]);
  });

  it('flush waits for the write in flight and the one waiting behind it', async () => {
    const store = slowStore();
    const saver = coalescingSaver(store.save, () => undefined);
    saver.soon(() => 1);
    saver.soon(() => 2);
    let flushed = false;
    const flushing = saver.flush().then(() => (flushed = true));
    await store.finishNext();
    expect(flushed).toBe(false);
    await store.finishNext();
    await flushing;
    expect(flushed).toBe(true);
    expect(store.writes).toEqual([1, 2]);
  });

  it('a failed write is reported and the next one still happens', async () => {
    const errors: unknown[] = [];
    const writes: number[] = [];
    let fail = true;
    const saver = coalescingSaver(
      async (v: number) => {
        writes.push(v);
        if (fail) {
          fail = false;
          throw new Error('quota exceeded');
        }
      },
      (e) => errors.push(e),
    );
    saver.soon(() => 1);
    saver.soon(() => 2);
    await saver.flush();
    expect(writes).toEqual([1, 2]);
    expect(errors.map(String)).toEqual(['Error: quota exceeded']);
  });

  it('flush with nothing to write resolves at once', async () => {
    const saver = coalescingSaver(
      async () => undefined,
      () => undefined,
    );
    await saver.flush();
  });
});
