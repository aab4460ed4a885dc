// Small JSON files in --data-dir: read once at start, written atomically and debounced, so a
// busy server writes at most once per interval and a crash never leaves a half-written file.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorText, type Logger } from './log.ts';

/** A file that saves `snapshot()` some time after `touch()`, and at once on `flush()`. */
export interface JsonFile {
  touch(): void;
  flush(): Promise<void>;
}

/** Options for createJsonFile; without `dir` nothing is written (in-memory server). */
export interface JsonFileOptions {
  dir: string | undefined;
  name: string;
  snapshot: () => unknown;
  log: Logger;
  debounceMs?: number;
}

/** Reads `name` from `dir`; a missing file is undefined, a corrupt one is set aside and logged. */
export async function readJsonFile(dir: string | undefined, name: string, log: Logger): Promise<unknown> {
  if (dir === undefined) return undefined;
  const path = join(dir, name);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // Keep the damaged file for the operator instead of overwriting it with an empty state.
    const aside = `${path}.corrupt-${Date.now()}`;
    await rename(path, aside);
    log.warn('data.corrupt', { file: path, movedTo: aside, error: errorText(error) });
    return undefined;
  }
}

/** Creates a debounced, atomically written JSON file. */
export function createJsonFile(options: JsonFileOptions): JsonFile {
  const { dir, name, snapshot, log } = options;
  const debounceMs = options.debounceMs ?? 2_000;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();

  const write = async (): Promise<void> => {
    if (dir === undefined) return;
    const path = join(dir, name);
    const tmp = `${path}.${process.pid}.tmp`;
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(tmp, JSON.stringify(snapshot()) + '\n', { mode: 0o600 });
      await rename(tmp, path);
    } catch (error) {
      // A full disk must not stop signaling; the next change tries again.
      log.error('data.write-failed', { file: path, error: errorText(error) });
    }
  };
  const save = (): Promise<void> => {
    timer = undefined;
    writing = writing.then(write);
    return writing;
  };

  return {
    touch() {
      if (dir === undefined || timer) return;
      timer = setTimeout(() => void save(), debounceMs);
      timer.unref();
    },
    async flush() {
      if (timer) {
        clearTimeout(timer);
        await save();
      } else {
        await writing;
      }
    },
  };
}
