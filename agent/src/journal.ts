// The journal of runs, one JSON file per task id in <state>/journal. A task id runs at most
// once per host; a controller that reconnects collects what it missed; a run that was
// going when the agent died is reported as interrupted after the restart.

import { closeSync, fsync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { WireError } from '../../shared/wire/errors.ts';
import type { ResultStatus } from '../../shared/wire/protocol.ts';
import { readJson } from '../../node/files.ts';
import { isObj } from '../../shared/wire/validate.ts';

/** Output kept per stream in the journal; the rest is dropped with `truncated` set. */
export const JOURNAL_OUTPUT_CAP = 256 * 1024;
const KEEP_ENTRIES = 5000;
const fsyncAsync = promisify(fsync);

/** One run as recorded on the host. */
export interface JournalEntry {
  task: string;
  /** The capability that ran (its name in capabilities/registry.ts). */
  op: string;
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
  /** Records a new running task, durably; false if the task id was already used. */
  begin(entry: JournalEntry): Promise<boolean>;
  appendOutput(task: string, stream: 'stdout' | 'stderr', text: string): void;
  /** Changes an entry in memory only; the next write records it. */
  note(task: string, patch: Partial<JournalEntry>): void;
  /** Changes an entry and writes it (atomically, not fsynced). */
  update(task: string, patch: Partial<JournalEntry>): Promise<void>;
  list(filter: { tasks?: string[]; since?: number }): JournalEntry[];
  /** Entries that were running when the agent stopped, now marked interrupted. */
  readonly recovered: string[];
}

/**
 * How the journal reaches the disk (docs/operations.md, "The journal"): one file per task,
 * `<task>.json`. `begin` creates it (O_EXCL) and fsyncs it and the directory before the
 * handler runs, so a task id never runs twice, even across a power cut. Later writes (output
 * flushes, the result) replace it atomically (temp file, rename) without fsync: an agent crash
 * loses nothing, since the page cache outlives the process; a power cut within the file
 * system's commit interval can lose the result, and the task then reads as `interrupted`.
 * Writes other than fsync are synchronous: a small file in the page cache costs microseconds,
 * far less than a thread-pool round trip per call.
 */
export async function openJournal(stateDir: string): Promise<Journal> {
  const dir = join(stateDir, 'journal');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const dirFd = openSync(dir, 'r');
  const pathOf = (task: string) => join(dir, `${task}.json`);
  /** Replaces the entry's file atomically; writes of one task never overlap (they are synchronous). */
  const replace = (entry: JournalEntry): void => {
    const temp = `${pathOf(entry.task)}.tmp`;
    writeFileSync(temp, JSON.stringify(entry), { mode: 0o600 });
    renameSync(temp, pathOf(entry.task));
  };
  const entries = new Map<string, JournalEntry>();
  const recovered: string[] = [];
  for (const name of await readdir(dir)) {
    if (name.endsWith('.tmp')) {
      await unlink(join(dir, name)).catch(() => undefined); // a replacement the agent did not finish
      continue;
    }
    if (!name.endsWith('.json')) continue;
    const task = name.slice(0, -'.json'.length);
    try {
      const raw = await readJson(join(dir, name));
      if (isObj(raw) && typeof raw['task'] === 'string' && isTaskId(raw['task'])) entries.set(raw['task'], raw as unknown as JournalEntry);
    } catch {
      if (!isTaskId(task)) continue;
      // Unreadable (a power cut during a write): the id stays used, and the run is reported lost.
      const startedAt = statSync(join(dir, name), { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      entries.set(task, { task, op: 'exec', status: 'running', device: '', summary: '', startedAt: Math.floor(startedAt), stdout: '', stderr: '', truncated: false });
    }
  }
  for (const entry of entries.values()) {
    if (entry.status === 'running') {
      entry.status = 'interrupted';
      entry.endedAt = Date.now();
      entry.error = { code: 'channel-closed', detail: 'the agent stopped while this task was running' };
      recovered.push(entry.task);
      replace(entry);
    }
  }
  const sorted = [...entries.values()].sort((a, b) => a.startedAt - b.startedAt);
  for (const old of sorted.slice(0, Math.max(0, sorted.length - KEEP_ENTRIES))) {
    entries.delete(old.task);
    await unlink(pathOf(old.task)).catch(() => undefined);
  }

  return {
    recovered,
    get: (task) => entries.get(task),
    async begin(entry) {
      if (entries.has(entry.task)) return false;
      entries.set(entry.task, entry);
      let fd: number | undefined;
      try {
        fd = openSync(pathOf(entry.task), 'wx', 0o600);
        writeSync(fd, JSON.stringify(entry));
        // The file's contents and its name in the directory, both durable before the task runs.
        await Promise.all([fsyncAsync(fd), fsyncAsync(dirFd)]);
      } catch (error) {
        // Not recorded, so not run: the id may be tried again.
        entries.delete(entry.task);
        if (fd !== undefined) rmSync(pathOf(entry.task), { force: true });
        throw error;
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
      return true;
    },
    appendOutput(task, stream, text) {
      const entry = entries.get(task);
      if (!entry) return;
      const room = JOURNAL_OUTPUT_CAP - entry[stream].length;
      if (text.length > room) entry.truncated = true;
      if (room > 0) entry[stream] += text.slice(0, room);
    },
    note(task, patch) {
      const entry = entries.get(task);
      if (entry) Object.assign(entry, patch);
    },
    async update(task, patch) {
      const entry = entries.get(task);
      if (!entry) return;
      Object.assign(entry, patch);
      replace(entry);
    },
    list(filter) {
      const wanted = filter.tasks ? new Set(filter.tasks) : undefined;
      return [...entries.values()].filter((e) => (!wanted || wanted.has(e.task)) && (filter.since === undefined || e.startedAt >= filter.since));
    },
  };
}
