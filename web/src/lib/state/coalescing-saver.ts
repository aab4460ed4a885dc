// Saves of a value that changes faster than it can be written: at most one write in flight,
// and when it ends, one more with the latest value if it changed meanwhile. A task saved its
// whole record (every host's output so far) after each host's result, one IndexedDB write after
// another on the way to the task's end: n writes of a growing record for n hosts. Now the
// results that arrive during a write go out together in the next.

export interface CoalescingSaver<T> {
  /** Asks for a save of `current()` (read when the write starts, so it is the latest). */
  soon(current: () => T): void;
  /** Resolves once nothing is written or waiting. */
  flush(): Promise<void>;
}

export function coalescingSaver<T>(save: (value: T) => Promise<void>, onError: (error: unknown) => void): CoalescingSaver<T> {
  let inFlight: Promise<void> | undefined;
  let waiting: (() => T) | undefined;
  function start(): void {
    const current = waiting!;
    waiting = undefined;
    inFlight = (async () => {
      try {
        await save(current());
      } catch (error) {
        onError(error);
      }
    })().finally(() => {
      inFlight = undefined;
      if (waiting) start();
    });
  }
  return {
    soon(current) {
      waiting = current;
      if (!inFlight) start();
    },
    async flush() {
      while (inFlight) await inFlight;
    },
  };
}
