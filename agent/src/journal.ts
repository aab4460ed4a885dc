// The journal of runs, one JSON file per task id in <state>/journal. A task id runs at most
// once per host; a controller that reconnects collects what it missed; a run that was
// going when the agent died is reported as interrupted after the restart.

import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { WireError } from '../../shared/errors.ts';
import type { ResultStatus } from '../../shared/protocol.ts';
import { readJson, writeJsonAtomic } from './files.ts';
import { isObj } from '../../shared/validate.ts';

/** Output kept per stream in the journal; the rest is dropped with `truncated` set. */
export const JOURNAL_OUTPUT_CAP = 256 * 1024;
const KEEP_ENTRIES = 5000;

/** One run as recorded on the host. */
export interface JournalEntry {
  task: string;
  op: 'exec' | 'push' | 'fetch';
  status: ResultStatus | 'running';
  device: string;
  summary: string;
  startedAt: number;
  endedAt?: number;
  exitCode?: number;
  error?: WireError;
  stdout: string;
  stderr: string;
  truncated: boolean;
  pid?: number;
  data?: Record<string, unknown>;
}

/** Valid task ids are safe file names. */
export function isTaskId(task: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(task);
}

export interface Journal {
  get(task: string): JournalEntry | undefined;
  /** Records a new running task; false if the task id was already used. */
  begin(entry: JournalEntry): Promise<boolean>;
  appendOutput(task: string, stream: 'stdout' | 'stderr', text: string): void;
  update(task: string, patch: Partial<JournalEntry>): Promise<void>;
  list(filter: { tasks?: string[]; since?: number }): JournalEntry[];
  /** Entries that were running when the agent stopped, now marked interrupted. */
  readonly recovered: string[];
}

/** Opens the journal, marking runs left "running" by a dead agent as interrupted. */
export async function openJournal(stateDir: string): Promise<Journal> {
  const dir = join(stateDir, 'journal');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const entries = new Map<string, JournalEntry>();
  const recovered: string[] = [];
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.json')) continue;
    try {
      const raw = await readJson(join(dir, name));
      if (isObj(raw) && typeof raw['task'] === 'string' && isTaskId(raw['task'])) entries.set(raw['task'], raw as unknown as JournalEntry);
    } catch {
      // A corrupt entry (e.g. disk full mid-write) is set aside, not fatal.
      await unlink(join(dir, name)).catch(() => undefined);
    }
  }
  for (const entry of entries.values()) {
    if (entry.status === 'running') {
      entry.status = 'interrupted';
      entry.endedAt = Date.now();
      entry.error = { code: 'channel-closed', detail: 'the agent stopped while this task was running' };
      recovered.push(entry.task);
      await writeJsonAtomic(join(dir, `${entry.task}.json`), entry);
    }
  }
  const sorted = [...entries.values()].sort((a, b) => a.startedAt - b.startedAt);
  for (const old of sorted.slice(0, Math.max(0, sorted.length - KEEP_ENTRIES))) {
    entries.delete(old.task);
    await unlink(join(dir, `${old.task}.json`)).catch(() => undefined);
  }

  // Writes of one entry are serialised and each writes the entry as it is then: overlapping
  // atomic writes could otherwise rename an older snapshot over a newer one.
  const writes = new Map<string, Promise<void>>();
  const save = (entry: JournalEntry): Promise<void> => {
    const next = (writes.get(entry.task) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => writeJsonAtomic(join(dir, `${entry.task}.json`), entry));
    writes.set(entry.task, next);
    void next.finally(() => writes.get(entry.task) === next && writes.delete(entry.task)).catch(() => undefined);
    return next;
  };
  return {
    recovered,
    get: (task) => entries.get(task),
    async begin(entry) {
      if (entries.has(entry.task)) return false;
      entries.set(entry.task, entry);
      await save(entry);
      return true;
    },
    appendOutput(task, stream, text) {
      const entry = entries.get(task);
      if (!entry) return;
      const room = JOURNAL_OUTPUT_CAP - entry[stream].length;
      if (text.length > room) entry.truncated = true;
      if (room > 0) entry[stream] += text.slice(0, room);
    },
    async update(task, patch) {
      const entry = entries.get(task);
      if (!entry) return;
      Object.assign(entry, patch);
      await save(entry);
    },
    list(filter) {
      const wanted = filter.tasks ? new Set(filter.tasks) : undefined;
      return [...entries.values()].filter((e) => (!wanted || wanted.has(e.task)) && (filter.since === undefined || e.startedAt >= filter.since));
    },
  };
}
