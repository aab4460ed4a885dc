// Commands running in this agent process, kept so that a controller whose connection dropped
// mid-task can attach again over a new one: it gets the output it missed (from a bounded
// buffer per stream) and then the rest live, and the result when the command ends. The journal
// keeps the result whatever happens; this is what makes the reconnect seamless.

import type { ResultFields } from './task-context.ts';

export type Stream = 'stdout' | 'stderr';
export type Offsets = Record<Stream, number>;

/** Receives a running command's output; the promise is for backpressure. */
export type OutputListener = (stream: Stream, bytes: Uint8Array) => Promise<void>;

/** One running command. */
export interface LiveTask {
  readonly task: string;
  /** Aborts the command (a cancel from any attached controller). */
  readonly abort: AbortController;
  /** Bytes produced so far per stream. */
  readonly produced: Readonly<Offsets>;
  /** Records output and forwards it to every attached listener. */
  output(stream: Stream, bytes: Uint8Array): Promise<void>;
  /**
   * Attaches a listener that has seen `from` bytes of each stream: what it missed is sent at
   * once, from the buffer. `lost` counts missed bytes the buffer no longer held.
   */
  attach(from: Offsets, listener: OutputListener): { lost: number; detach(): void };
  /** Resolves with the result once the command has ended. */
  readonly finished: Promise<ResultFields>;
}

/** The registry of live tasks. */
export interface LiveTasks {
  /** Registers a command that starts now; `finish` records its result and removes it. */
  begin(task: string, abort: AbortController): { live: LiveTask; finish(fields: ResultFields): void };
  get(task: string): LiveTask | undefined;
  readonly size: number;
}

/** Output kept per stream of each live task for controllers that reattach. */
export const DEFAULT_KEEP_BYTES = 1024 * 1024;

interface Kept {
  chunks: { at: number; bytes: Uint8Array }[];
  size: number;
}

export function createLiveTasks(keepBytes = DEFAULT_KEEP_BYTES): LiveTasks {
  const tasks = new Map<string, LiveTask>();

  function begin(task: string, abort: AbortController): { live: LiveTask; finish(fields: ResultFields): void } {
    const produced: Offsets = { stdout: 0, stderr: 0 };
    const kept: Record<Stream, Kept> = { stdout: { chunks: [], size: 0 }, stderr: { chunks: [], size: 0 } };
    const listeners = new Set<OutputListener>();
    let markFinished: (fields: ResultFields) => void = () => undefined;
    const finished = new Promise<ResultFields>((resolve) => (markFinished = resolve));

    const keep = (stream: Stream, bytes: Uint8Array): void => {
      const k = kept[stream];
      k.chunks.push({ at: produced[stream], bytes });
      k.size += bytes.length;
      while (k.size - (k.chunks[0]?.bytes.length ?? 0) >= keepBytes && k.chunks.length > 1) k.size -= k.chunks.shift()!.bytes.length;
    };

    /** The bytes of `stream` from offset `from` on that are still kept, and how many before them are gone. */
    const since = (stream: Stream, from: number): { bytes: Uint8Array[]; lost: number } => {
      const out: Uint8Array[] = [];
      const first = kept[stream].chunks[0]?.at ?? produced[stream];
      for (const { at, bytes } of kept[stream].chunks) {
        const end = at + bytes.length;
        if (end <= from) continue;
        out.push(at >= from ? bytes : bytes.subarray(from - at));
      }
      return { bytes: out, lost: Math.max(0, Math.min(first, produced[stream]) - from) };
    };

    const live: LiveTask = {
      task,
      abort,
      produced,
      output(stream, bytes) {
        keep(stream, bytes);
        produced[stream] += bytes.length;
        return Promise.all([...listeners].map((l) => l(stream, bytes))).then(() => undefined);
      },
      attach(from, listener) {
        let lost = 0;
        for (const stream of ['stdout', 'stderr'] as const) {
          const missed = since(stream, Math.min(Math.max(0, from[stream]), produced[stream]));
          lost += missed.lost;
          for (const bytes of missed.bytes) void listener(stream, bytes);
        }
        listeners.add(listener);
        return { lost, detach: () => void listeners.delete(listener) };
      },
      finished,
    };
    tasks.set(task, live);
    return {
      live,
      finish(fields) {
        if (tasks.get(task) === live) tasks.delete(task);
        listeners.clear();
        markFinished(fields);
      },
    };
  }

  return {
    begin,
    get: (task) => tasks.get(task),
    get size() {
      return tasks.size;
    },
  };
}
