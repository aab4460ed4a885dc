// Between the PWA's own records (IndexedDB hosts, tokens, task history) and the fleet store's
// documents (shared/store/documents.ts): one fleet state on every device. Pure functions, so the
// rules (a rejected host stays rejected, a removed one goes, history merges with the device that
// ran each task) are tested without a browser.

import type { HostRecord, TokenRecord } from '../../../../shared/controller/hosts.ts';
import type { HistoryDoc, HostDoc, ResultDoc, TokenDoc } from '../../../../shared/store/documents.ts';
import type { QueueEntry } from '../../../../shared/store/fleet-sync.ts';
import { encodeJoinToken, parseJoinToken } from '../../../../shared/identity/tokens.ts';
import type { TaskHostRecord, TaskKind, TaskRecord } from '../db/schema.ts';

const KINDS: readonly TaskKind[] = ['exec', 'script', 'push', 'fetch'];

/**
 * What a host decision in the store makes of this browser's record: accepted or rejected (a
 * record is made from the certificate's keys when this browser never met the host), or
 * `undefined` for a removed host (its record goes).
 */
export function hostFromDoc(doc: HostDoc, known: HostRecord | undefined, now = Date.now()): HostRecord | undefined {
  if (doc.decision === 'removed') return undefined;
  const status = doc.decision;
  if (known) {
    // A rejected stub has no keys yet: take them from the certificate when one comes.
    const keys = !known.signPub && doc.cert ? { signPub: doc.cert.body.signPub, encPub: doc.cert.body.encPub } : {};
    return known.status === status && !keys.signPub ? known : { ...known, ...keys, status };
  }
  return {
    id: doc.host,
    status,
    signPub: doc.cert?.body.signPub ?? '',
    encPub: doc.cert?.body.encPub ?? '',
    facts: undefined,
    firstSeen: doc.at || now,
    lastSeen: doc.at || now,
  };
}

/** A token document as this browser keeps tokens (the secret comes out of the encoded token); undefined when it is not a usable token. */
export function tokenFromDoc(doc: TokenDoc, known: TokenRecord | undefined): TokenRecord | undefined {
  let secret: string;
  try {
    // Expired tokens are listed too (as expired): decode without the expiry check.
    secret = parseJoinToken(doc.token, 0).secret;
  } catch {
    return undefined;
  }
  return {
    tid: doc.tid,
    secret,
    exp: doc.exp,
    createdAt: known?.createdAt ?? doc.at,
    revoked: doc.revoked || (known?.revoked ?? false),
    usedBy: [...new Set([...(known?.usedBy ?? []), ...doc.used])],
    maxUses: doc.uses,
  };
}

/** This browser's token as a document for the other devices (the CLI lists it). */
export function tokenToDoc(record: TokenRecord, signal: string, fleet: string, now = Date.now()): TokenDoc {
  return {
    type: 'token',
    tid: record.tid,
    token: encodeJoinToken({ v: 1, signal, fleet, tid: record.tid, secret: record.secret, exp: record.exp }),
    uses: record.maxUses ?? 1,
    used: record.usedBy,
    revoked: record.revoked,
    exp: record.exp,
    at: now,
  };
}

/** True when the document says something about a token that this browser's record does not. */
export function tokenDiffers(doc: TokenDoc | undefined, record: TokenRecord): boolean {
  if (!doc) return true;
  return doc.revoked !== record.revoked || doc.uses !== (record.maxUses ?? 1) || record.usedBy.some((id) => !doc.used.includes(id));
}

/** A task this browser ran, as the history document every other device reads. */
export function historyFromTask(task: TaskRecord, now = Date.now()): HistoryDoc {
  return {
    type: 'history',
    task: task.id,
    command: task.kind,
    summary: task.command.slice(0, 1024),
    selector: task.selector.slice(0, 4096),
    deviceName: task.device.slice(0, 128),
    startedAt: task.startedAt,
    ...(task.endedAt === undefined ? {} : { endedAt: task.endedAt }),
    results: task.hosts.map((h) => ({
      host: h.hostId,
      hostname: h.label.slice(0, 255),
      status: h.status,
      ...(h.exitCode === undefined ? {} : { exit: h.exitCode }),
      ...(h.durationMs === undefined ? {} : { durationMs: h.durationMs }),
      ...(h.error === undefined ? {} : { error: h.error.slice(0, 1024) }),
    })),
    at: now,
  };
}

function hostLine(host: string, label: string, status: string, startedAt: number): TaskHostRecord {
  return {
    hostId: host,
    label,
    status: status as TaskHostRecord['status'],
    exitCode: undefined,
    stdout: '',
    stderr: '',
    truncated: false,
    error: undefined,
    startedAt,
    durationMs: undefined,
  };
}

/** A task another device ran, from its history document: results without output (the output stayed on that device). */
export function taskFromHistory(doc: HistoryDoc): TaskRecord {
  return {
    id: doc.task,
    selector: doc.selector,
    kind: KINDS.includes(doc.command as TaskKind) ? (doc.command as TaskKind) : 'exec',
    command: doc.summary,
    device: doc.deviceName,
    from: doc.deviceName,
    startedAt: doc.startedAt,
    endedAt: doc.endedAt,
    hosts: doc.results.map((r) => ({
      ...hostLine(r.host, r.hostname || r.host.slice(0, 8), r.status, doc.startedAt),
      exitCode: r.exit,
      durationMs: r.durationMs,
      error: r.error,
    })),
  };
}

/** One host's line from what the store says about its queued task: queued, expired, cancelled, or its result. */
function queuedLine(base: TaskHostRecord | undefined, host: string, label: string, state: string, result: ResultDoc | undefined, at: number): TaskHostRecord {
  const line = base ?? hostLine(host, label, state, at);
  if (!result) return { ...line, status: state as TaskHostRecord['status'] };
  return {
    ...line,
    label: result.hostname || line.label,
    status: result.status as TaskHostRecord['status'],
    exitCode: result.exit,
    stdout: result.output,
    stderr: '',
    error: result.error,
    startedAt: result.startedAt,
    durationMs: Math.max(0, result.endedAt - result.startedAt),
  };
}

/** A task with its queued hosts brought up to date from the store (a window task gains the hosts that answered). */
export function applyQueue(task: TaskRecord, entry: QueueEntry, labels: ReadonlyMap<string, string>): TaskRecord {
  const hosts = [...task.hosts];
  for (const q of entry.hosts) {
    const i = hosts.findIndex((h) => h.hostId === q.host);
    const current = i >= 0 ? hosts[i] : undefined;
    // What a live run settled stays; only lines still waiting on the store change.
    if (current && current.status !== 'queued' && current.status !== 'expired') continue;
    const line = queuedLine(current, q.host, labels.get(q.host) ?? q.host.slice(0, 8), q.state, q.result, entry.at);
    if (i >= 0) hosts[i] = line;
    else hosts.push(line);
  }
  const waiting = hosts.some((h) => h.status === 'queued' || h.status === 'running');
  const lastResult = Math.max(0, ...entry.hosts.map((h) => h.result?.endedAt ?? 0));
  return {
    ...task,
    hosts,
    deadline: task.deadline ?? entry.deadline,
    endedAt: waiting ? task.endedAt : Math.max(task.endedAt ?? 0, lastResult) || task.endedAt,
  };
}

/** A queued task known only from the store (another device queued it and ran nothing live). */
export function taskFromQueue(entry: QueueEntry, labels: ReadonlyMap<string, string>): TaskRecord {
  return applyQueue(
    {
      id: entry.task,
      selector: entry.selector,
      kind: 'exec',
      command: entry.summary,
      device: entry.by,
      from: entry.by,
      startedAt: entry.at,
      endedAt: undefined,
      hosts: [],
      deadline: entry.deadline,
    },
    entry,
    labels,
  );
}

/**
 * History from every device: this browser's tasks, tasks other devices ran (marked `from`), and
 * queued tasks with the results hosts left in the store. This browser's record of a task wins
 * over a document about the same task.
 */
export function mergeHistory(
  local: readonly TaskRecord[],
  shared: readonly (HistoryDoc & { deviceId: string })[],
  queue: readonly QueueEntry[],
  selfId: string,
  labels: ReadonlyMap<string, string>,
): TaskRecord[] {
  const byId = new Map<string, TaskRecord>();
  for (const doc of shared) if (doc.deviceId !== selfId) byId.set(doc.task, taskFromHistory(doc));
  for (const task of local) byId.set(task.id, task);
  for (const entry of queue) {
    const known = byId.get(entry.task);
    byId.set(entry.task, known ? applyQueue(known, entry, labels) : taskFromQueue(entry, labels));
  }
  return [...byId.values()].sort((a, b) => b.startedAt - a.startedAt);
}
