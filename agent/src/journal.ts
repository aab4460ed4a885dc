// The journal of runs, one JSON file per task id in <state>/journal. A task id runs at most
// once per host; a controller that reconnects collects what it missed; a run that was
// going when the agent died is reported as interrupted after the restart.

import { closeSync, fsync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FlotillaError, isErrorCode, type WireError } from '../../shared/wire/errors.ts';
import type { ResultStatus } from '../../shared/wire/protocol.ts';
import { expectDirectory, readJson } from '../../node/files.ts';
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
  /** Entries of the wrong shape, moved to `<task>.json.bad`; their ids stay used (interrupted). */
  readonly setAside: { path: string; reason: string }[];
}

const STATUSES = new Set<string>(['ok', 'failed', 'timeout', 'cancelled', 'unreachable', 'interrupted', 'running']);

/** Why a journal file's contents are not an entry, or undefined when they are one. */
export function entryProblem(raw: unknown): string | undefined {
  if (!isObj(raw)) return 'not a JSON object';
  const need = (key: string, ok: (v: unknown) => boolean, what: string) => (ok(raw[key]) ? undefined : `${key} is not ${what}`);
  const str = (v: unknown) => typeof v === 'string';
  const num = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v);
  const opt = (ok: (v: unknown) => boolean) => (v: unknown) => v === undefined || ok(v);
  return (
    need('task', (v) => str(v) && isTaskId(v as string), 'a task id') ??
    need('op', (v) => v === 'exec' || v === 'push' || v === 'fetch', 'exec, push or fetch') ??
    need('status', (v) => str(v) && STATUSES.has(v as string), 'a status') ??
    need('device', str, 'a string') ??
    need('summary', str, 'a string') ??
    need('startedAt', num, 'a time') ??
    need('endedAt', opt(num), 'a time') ??
    need('exitCode', opt(num), 'an integer') ??
    need(
      'error',
      opt((v) => isObj(v) && isErrorCode(v['code']) && (v['detail'] === undefined || str(v['detail']))),
      'an error',
    ) ??
    need('stdout', str, 'a string') ??
    need('stderr', str, 'a string') ??
    need('truncated', (v) => typeof v === 'boolean', 'true or false') ??
    need('pid', opt(num), 'a process id') ??
    need('data', opt(isObj), 'an object')
  );
}

/** A file-system error on the journal as one sentence with the path (a full disk, say). */
function journalWriteError(path: string, error: unknown): FlotillaError {
  const code = (error as NodeJS.ErrnoException).code ?? String(error);
  const why = code === 'ENOSPC' ? 'no space left on the device' : code === 'EDQUOT' ? 'disk quota exceeded' : code;
  return new FlotillaError(
    'file-error',
    `the agent cannot write its journal (${path}: ${why}), so it did not run this task; free space under its state directory`,
  );
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
  await expectDirectory(dir, 'its journal');
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
  const setAside: { path: string; reason: string }[] = [];
  for (const name of await readdir(dir)) {
    if (name.endsWith('.tmp')) {
      await unlink(join(dir, name)).catch(() => undefined); // a replacement the agent did not finish
      continue;
    }
    if (!name.endsWith('.json')) continue;
    const task = name.slice(0, -'.json'.length);
    try {
      const raw = await readJson(join(dir, name));
      const problem = entryProblem(raw);
      if (problem === undefined && (raw as JournalEntry).task === task) {
        entries.set(task, raw as JournalEntry);
        continue;
      }
      if (!isTaskId(task)) continue;
      // Of the wrong shape (edited by hand, written by something else): kept aside for a look,
      // and the id stays used, reading interrupted with that said.
      const reason = problem ?? `its task is not ${task}`;
      const aside = `${join(dir, name)}.bad`;
      renameSync(join(dir, name), aside);
      setAside.push({ path: aside, reason });
      const startedAt = statSync(aside, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      entries.set(task, {
        task,
        op: 'exec',
        status: 'interrupted',
        device: '',
        summary: '',
        startedAt: Math.floor(startedAt),
        endedAt: Math.floor(startedAt),
        stdout: '',
        stderr: '',
        truncated: false,
        error: { code: 'file-error', detail: `this task's journal entry was damaged (${reason}); it was set aside as ${aside}` },
      });
      replace(entries.get(task)!);
    } catch {
      if (!isTaskId(task)) continue;
      // Unreadable (a power cut during a write): the id stays used, and the run is reported lost.
      const startedAt = statSync(join(dir, name), { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      entries.set(task, {
        task,
        op: 'exec',
        status: 'running',
        device: '',
        summary: '',
        startedAt: Math.floor(startedAt),
        stdout: '',
        stderr: '',
        truncated: false,
      });
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
    setAside,
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
        throw journalWriteError(pathOf(entry.task), error);
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
      try {
        replace(entry);
      } catch (error) {
        rmSync(`${pathOf(task)}.tmp`, { force: true });
        throw journalWriteError(pathOf(task), error);
      }
    },
    list(filter) {
      const wanted = filter.tasks ? new Set(filter.tasks) : undefined;
      return [...entries.values()].filter((e) => (!wanted || wanted.has(e.task)) && (filter.since === undefined || e.startedAt >= filter.since));
    },
  };
}
