// Results a host finished while no page followed them: which tasks history still has as running
// per host, the agent's journal entries (validated: they come from a peer), and the record with
// them filled in.

import { ERROR_MESSAGES, isErrorCode } from '../../../../shared/errors.ts';
import { RESULT_STATUSES, type ResultStatus } from '../../../../shared/protocol.ts';
import { isObj, int, oneOf, optInt, optStr, str, type Obj } from '../../../../shared/validate.ts';
import { appendCapped } from '../db/tasks.ts';
import type { TaskHostRecord, TaskRecord } from '../db/schema.ts';

/** One journal entry, as far as history needs it. */
export interface JournalResult {
  task: string;
  status: ResultStatus | 'running';
  startedAt: number;
  endedAt: number | undefined;
  exitCode: number | undefined;
  error: string | undefined;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

/** Most entries asked for in one request (the agent answers at most 200). */
export const JOURNAL_BATCH = 200;

/** Task ids per host that history has as running, leaving out the tasks this page runs now. */
export function awaitingByHost(tasks: readonly TaskRecord[], runningHere: ReadonlySet<string>): Map<string, string[]> {
  const byHost = new Map<string, string[]>();
  for (const task of tasks) {
    if (runningHere.has(task.id)) continue;
    for (const host of task.hosts) {
      if (host.status !== 'running') continue;
      byHost.set(host.hostId, [...(byHost.get(host.hostId) ?? []), task.id]);
    }
  }
  return byHost;
}

function parseEntry(raw: unknown): JournalResult | undefined {
  if (!isObj(raw)) return undefined;
  try {
    const o: Obj = raw;
    const code = isObj(o['error']) ? o['error']['code'] : undefined;
    const detail = isObj(o['error']) ? optStr(o['error'], 'detail', 4096) : undefined;
    const error = isErrorCode(code) ? (detail ? `${ERROR_MESSAGES[code]} (${detail})` : ERROR_MESSAGES[code]) : undefined;
    return {
      task: str(o, 'task', 64, 1),
      status: oneOf(o, 'status', [...RESULT_STATUSES, 'running'] as const),
      startedAt: int(o, 'startedAt'),
      endedAt: optInt(o, 'endedAt'),
      exitCode: optInt(o, 'exitCode', -1_000_000, 1_000_000),
      error,
      // The agent keeps 256 KiB per stream; history keeps the same, cut again to be sure.
      stdout: appendCapped('', str(o, 'stdout', 1024 * 1024)).text,
      stderr: appendCapped('', str(o, 'stderr', 1024 * 1024)).text,
      truncated: o['truncated'] === true,
    };
  } catch {
    return undefined;
  }
}

/** The entries of a `journal` result's data; malformed entries are dropped, not trusted. */
export function parseJournal(data: Obj | undefined): JournalResult[] {
  const entries = data?.['entries'];
  if (!Array.isArray(entries)) return [];
  return entries.slice(0, JOURNAL_BATCH).flatMap((raw) => parseEntry(raw) ?? []);
}

/**
 * The task with this host's part filled in from the journal. `missing` marks a task the host has
 * no record of (it never arrived, or the journal was pruned): interrupted, with that said.
 */
export function applyJournal(task: TaskRecord, hostId: string, entry: JournalResult | 'missing'): TaskRecord {
  const hosts = task.hosts.map((h): TaskHostRecord => {
    if (h.hostId !== hostId || h.status !== 'running') return h;
    if (entry === 'missing') return { ...h, status: 'interrupted', error: 'the host has no record of this task: it may never have arrived' };
    if (entry.status === 'running') return h;
    return {
      ...h,
      status: entry.status,
      exitCode: entry.exitCode,
      stdout: entry.stdout,
      stderr: entry.stderr,
      truncated: entry.truncated,
      error: entry.error,
      durationMs: entry.endedAt === undefined ? undefined : Math.max(0, entry.endedAt - entry.startedAt),
    };
  });
  const ended = hosts.every((h) => h.status !== 'running');
  if (!ended) return { ...task, hosts };
  return { ...task, hosts, endedAt: task.endedAt ?? Math.max(task.startedAt, ...hosts.map((h) => h.startedAt + (h.durationMs ?? 0))) };
}
