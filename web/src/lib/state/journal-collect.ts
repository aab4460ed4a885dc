// Results a host finished while no page followed them: which tasks history still has as running
// per host, the agent's journal entries (validated: they come from a peer), and the record with
// them filled in.

import { ERROR_MESSAGES, isErrorCode } from '../../../../shared/wire/errors.ts';
import { RESULT_STATUSES, type ResultStatus } from '../../../../shared/wire/protocol.ts';
import { isObj, int, oneOf, optInt, optStr, str, type Obj } from '../../../../shared/wire/validate.ts';
import { appendCapped } from '../db/tasks.ts';
import { bytes } from '../format.ts';
import type { TaskHostRecord, TaskRecord } from '../db/schema.ts';

/** One journal entry, as far as history needs it. */
export interface JournalResult {
  task: string;
  status: ResultStatus | 'running';
  startedAt: number;
  endedAt: number | undefined;
  exitCode: number | undefined;
  error: string | undefined;
  errorCode: string | undefined;
  stdout: string;
  stderr: string;
  truncated: boolean;
  /** What the host ran: the command, or the path a push wrote or a fetch read. */
  summary: string | undefined;
  /** Bytes a push wrote or a fetch read (from the entry's data). */
  size: number | undefined;
}

/** Most entries asked for in one request (the agent answers at most 200). */
export const JOURNAL_BATCH = 200;

/**
 * The ids a task has in a host's journal: its own id, or one per file of a push of several
 * files (each file is its own task on the host: `<task>.<n>`).
 */
export function journalIds(task: Pick<TaskRecord, 'id' | 'parts'>): string[] {
  const parts = task.parts ?? 1;
  return parts > 1 ? Array.from({ length: parts }, (_, i) => `${task.id}.${i}`) : [task.id];
}

/** Journal ids per host of the tasks history has as running, leaving out the tasks this page runs now. */
export function awaitingByHost(tasks: readonly TaskRecord[], runningHere: ReadonlySet<string>): Map<string, string[]> {
  const byHost = new Map<string, string[]>();
  // Oldest first, so that the newest are kept when a host has more than one request can ask for.
  for (const task of [...tasks].reverse()) {
    if (runningHere.has(task.id)) continue;
    for (const host of task.hosts) {
      if (host.status !== 'running') continue;
      byHost.set(host.hostId, [...(byHost.get(host.hostId) ?? []), ...journalIds(task)]);
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
      errorCode: isErrorCode(code) ? code : undefined,
      // The agent keeps 256 KiB per stream; history keeps the same, cut again to be sure.
      stdout: appendCapped('', str(o, 'stdout', 1024 * 1024)).text,
      stderr: appendCapped('', str(o, 'stderr', 1024 * 1024)).text,
      truncated: o['truncated'] === true,
      summary: optStr(o, 'summary', 4096),
      size:
        isObj(o['data']) && typeof o['data']['size'] === 'number' && Number.isSafeInteger(o['data']['size']) && o['data']['size'] >= 0
          ? o['data']['size']
          : undefined,
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

/** The last part of a path. */
function baseName(path: string | undefined): string {
  return path?.split('/').filter(Boolean).pop() ?? 'file';
}

/**
 * One host's parts of a push of several files, as one result. The browser sends the files one
 * after another and stops at the first that fails, so: every part ok is ok; otherwise the first
 * part that is not ok says what happened, and a part the host never saw after ones that arrived
 * means the page closed between two files. All parts unknown: `missing`.
 */
export function combineParts(parts: readonly (JournalResult | 'missing')[]): JournalResult | 'missing' {
  const known = parts.filter((p): p is JournalResult => p !== 'missing');
  if (known.length === 0) return 'missing';
  if (known.some((p) => p.status === 'running')) return { ...known[0]!, status: 'running' };
  const first = known[0]!;
  let stdout = '';
  for (const [i, part] of parts.entries()) {
    const which = `file ${i + 1} of ${parts.length}`;
    const end = (status: JournalResult['status'], error: string, at: JournalResult): JournalResult => ({
      ...first,
      status,
      error,
      stdout,
      exitCode: undefined,
      endedAt: at.endedAt ?? at.startedAt,
      truncated: known.some((p) => p.truncated),
    });
    if (part === 'missing')
      return end('interrupted', `the page closed after ${i} of ${parts.length} files: ${which} never reached the host`, known[known.length - 1]!);
    // The agent stops a transfer whose controller went away as cancelled: here, the page closed.
    if (part.status === 'cancelled')
      return end('interrupted', `the page closed while ${which} (${part.summary ?? '?'}) was on its way: it was not written`, part);
    if (part.status !== 'ok') return end(part.status, `${which} (${part.summary ?? '?'}): ${part.error ?? part.status}`, part);
    stdout += pushedLine(part);
  }
  const last = known[known.length - 1]!;
  return { ...first, status: 'ok', stdout, error: undefined, endedAt: last.endedAt, truncated: false };
}

/** What the live page writes for a pushed file, from its journal entry. */
function pushedLine(entry: JournalResult): string {
  return `pushed ${baseName(entry.summary)}${entry.size === undefined ? '' : ` (${bytes(entry.size)})`} → ${entry.summary ?? '?'}\n`;
}

/** Errors of a fetch that are the host's answer about the file, not a transfer cut short. */
const HOST_REFUSED: readonly string[] = ['file-error', 'path-refused', 'policy-refused', 'forbidden', 'too-large'];

/** Said of a fetch whose result came from the journal: the bytes went to a page that is gone. */
export const FETCH_LOST =
  'The page closed while this file was coming: the host has no copy to send later, and this browser never got all of it. Fetch it again to save it.';

/**
 * The task with this host's part filled in from the journal (`entry`: one per journal id, see
 * journalIds). `missing` marks a task the host has no record of (it never arrived, or the
 * journal was pruned): interrupted, with that said.
 */
export function applyJournal(task: TaskRecord, hostId: string, entries: readonly (JournalResult | 'missing')[]): TaskRecord {
  let entry = entries.length === 1 ? entries[0]! : combineParts(entries);
  const hosts = task.hosts.map((h): TaskHostRecord => {
    if (h.hostId !== hostId || h.status !== 'running') return h;
    if (entry === 'missing') return { ...h, status: 'interrupted', error: 'the host has no record of this task: it may never have arrived' };
    if (entry.status === 'running') return h;
    // A transfer needs the page that started it: the agent stops one whose page went away as
    // cancelled. Nobody cancelled it: the page closed.
    if ((task.kind === 'push' || task.kind === 'fetch') && entries.length === 1 && entry.status === 'cancelled') {
      entry = { ...entry, status: 'interrupted', error: `the page closed while the file was on its way${task.kind === 'push' ? ': it was not written' : ''}` };
    }
    // A single pushed file: the same line the page would have written.
    const stdout = task.kind === 'push' && entries.length === 1 && entry.status === 'ok' && !entry.stdout ? pushedLine(entry) : entry.stdout;
    return {
      ...h,
      status: entry.status,
      exitCode: entry.exitCode,
      stdout,
      stderr: entry.stderr,
      truncated: entry.truncated,
      error: entry.error,
      durationMs: entry.endedAt === undefined ? undefined : Math.max(0, entry.endedAt - entry.startedAt),
      // The bytes went to the page that closed (whether or not the host finished reading), unless
      // the host refused the file itself: then the error says why, and fetching again won't help.
      ...(task.kind === 'fetch' && !HOST_REFUSED.includes(entry.errorCode ?? '') ? { note: FETCH_LOST } : {}),
    };
  });
  const ended = hosts.every((h) => h.status !== 'running');
  if (!ended) return { ...task, hosts };
  return { ...task, hosts, endedAt: task.endedAt ?? Math.max(task.startedAt, ...hosts.map((h) => h.startedAt + (h.durationMs ?? 0))) };
}
