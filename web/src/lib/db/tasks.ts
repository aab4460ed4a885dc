// Task history in IndexedDB: save, list newest first, and the rules records follow (the output
// cap, the overall status of a task, tasks a closed tab left running).

import type { Db, TaskHostRecord, TaskRecord } from './schema.ts';

/** Most bytes of stdout (and of stderr) kept per host in history. */
export const OUTPUT_CAP = 256 * 1024;

/** Status of a whole task, from its hosts. */
export type TaskStatus = TaskHostRecord['status'] | 'mixed';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** True for a task record as this app writes it. */
export function isTaskRecord(value: unknown): value is TaskRecord {
  return (
    isObject(value) &&
    typeof value['id'] === 'string' &&
    typeof value['selector'] === 'string' &&
    typeof value['command'] === 'string' &&
    typeof value['startedAt'] === 'number' &&
    Array.isArray(value['hosts']) &&
    value['hosts'].every((h) => isObject(h) && typeof h['hostId'] === 'string' && typeof h['status'] === 'string')
  );
}

/** Appends `text` to `current` without passing the cap; says whether anything was cut. */
export function appendCapped(current: string, text: string, cap = OUTPUT_CAP): { text: string; cut: boolean } {
  if (current.length >= cap) return { text: current, cut: text.length > 0 };
  if (current.length + text.length <= cap) return { text: current + text, cut: false };
  return { text: current + text.slice(0, cap - current.length), cut: true };
}

/** One word for a task: the hosts' common status, running while any runs, else failed-ish. */
export function taskStatus(task: { readonly hosts: readonly Pick<TaskHostRecord, 'status'>[] }): TaskStatus {
  const statuses = new Set(task.hosts.map((h) => h.status));
  if (statuses.has('running')) return 'running';
  if (statuses.size === 1) return [...statuses][0]!;
  return statuses.size === 0 ? 'ok' : 'mixed';
}

/** Saves (or replaces) a task. */
export async function saveTask(db: Db, task: TaskRecord): Promise<void> {
  await db.put('tasks', task);
}

/** All tasks, newest first. */
export async function listTasks(db: Db): Promise<TaskRecord[]> {
  const all = await db.getAllFromIndex('tasks', 'startedAt');
  return all.filter(isTaskRecord).reverse();
}

export async function getTask(db: Db, id: string): Promise<TaskRecord | undefined> {
  const value: unknown = await db.get('tasks', id);
  return isTaskRecord(value) ? value : undefined;
}

/**
 * Tasks a closed or reloaded tab left running are collected from the hosts' journals when they
 * next connect; those started before `before` are given up: their running hosts are marked
 * interrupted so history does not show them running forever.
 */
export async function settleOrphans(db: Db, runningNow: ReadonlySet<string>, before = Infinity): Promise<number> {
  let count = 0;
  for (const task of await listTasks(db)) {
    if (runningNow.has(task.id) || task.startedAt >= before || !task.hosts.some((h) => h.status === 'running')) continue;
    const hosts = task.hosts.map((h) =>
      h.status === 'running' ? { ...h, status: 'interrupted' as const, error: 'the page closed before this host answered, and its journal never said' } : h,
    );
    await saveTask(db, { ...task, hosts, endedAt: task.endedAt ?? Date.now() });
    count++;
  }
  return count;
}

/** Deletes tasks older than `days` days; returns how many. */
export async function pruneTasks(db: Db, days: number): Promise<number> {
  const before = Date.now() - days * 86_400_000;
  const keys = await db.getAllKeysFromIndex('tasks', 'startedAt', IDBKeyRange.upperBound(before, true));
  const tx = db.transaction('tasks', 'readwrite');
  await Promise.all([...keys.map((k) => tx.store.delete(k)), tx.done]);
  return keys.length;
}
