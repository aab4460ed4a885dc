// The app's top-level state: which phase it is in (no secure context, first run, ready), the
// database, the fleet, the task history and the task running now.

import { createFleet } from '../../../../shared/identity/fleet.ts';
import { deviceFromFleetKeys, importFleetBackup } from '../../../../shared/identity/backup.ts';
import { FlotillaError } from '../../../../shared/wire/errors.ts';
import { openFlotillaDb, type Db, type TaskRecord } from '../db/schema.ts';
import { getSetting, loadIdentity, putSetting, saveIdentity } from '../db/stores.ts';
import { getTask, listTasks, pruneTasks, saveTask, settleOrphans } from '../db/tasks.ts';
import { FleetState, type JournalHooks } from './fleet.svelte.ts';
import { applyJournal, awaitingByHost, journalIds } from './journal-collect.ts';
import { TaskRun, type Target, type TaskSpec } from './task-run.svelte.ts';
import { commandSpec } from './work.ts';
import { notify } from './toasts.svelte.ts';
import { historyFromTask, mergeHistory } from './store-mapping.ts';

export type Phase = 'loading' | 'insecure' | 'setup' | 'ready' | 'failed';

const isDays = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
/** Tasks a closed page left running wait this long for their hosts' journals, then count as interrupted. */
const AWAIT_JOURNAL_MS = 7 * 86_400_000;

/**
 * Takes a backup handed over in the address (`#import=flb1.…`, as `npm start` prints) and
 * removes it from the address bar and the current history entry.
 */
export function takeImportFragment(): string | undefined {
  const match = /^#import=(.+)$/s.exec(location.hash);
  if (!match) return undefined;
  history.replaceState(history.state, '', `${location.pathname}${location.search}`);
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    return match[1];
  }
}

/** The signaling server that served this page (the usual deployment). */
export function defaultSignal(): string {
  return `${location.origin}/`;
}

class AppState {
  phase = $state<Phase>('loading');
  failure = $state<string | undefined>(undefined);
  fleet = $state.raw<FleetState | undefined>(undefined);
  tasks = $state.raw<TaskRecord[]>([]);
  run = $state.raw<TaskRun | undefined>(undefined);
  /** History from every device: this browser's tasks, tasks other devices ran, queued tasks and the results hosts left in the fleet store. */
  allTasks: TaskRecord[] = $derived.by(() => {
    const fleet = this.fleet;
    if (!fleet) return this.tasks;
    const labels = new Map(fleet.hosts.map((h) => [h.id, h.facts?.hostname ?? h.id.slice(0, 8)]));
    return mergeHistory(this.tasks, fleet.store.history, fleet.store.queue, fleet.device.id, labels);
  });
  /** What the history document of each task said when this page wrote it (written when a task ends, again when a result comes later). */
  #shared = new Map<string, string>();
  retentionDays = $state(90);
  /** A backup from the address, offered on the first-run screen. */
  pendingImport = $state<string | undefined>(undefined);
  #db: Db | undefined;

  get db(): Db {
    if (!this.#db) throw new FlotillaError('internal', 'the database is not open yet');
    return this.#db;
  }

  /** Opens storage and the identity; decides what the first screen is. */
  async boot(): Promise<void> {
    this.pendingImport = takeImportFragment();
    try {
      if (!globalThis.isSecureContext || !globalThis.crypto?.subtle) {
        this.phase = 'insecure';
        return;
      }
      this.#db = await openFlotillaDb();
      this.retentionDays = await getSetting(this.#db, 'retentionDays', 90, isDays);
      await pruneTasks(this.#db, this.retentionDays);
      await settleOrphans(this.#db, new Set(), Date.now() - AWAIT_JOURNAL_MS);
      this.tasks = await listTasks(this.#db);
      const stored = await loadIdentity(this.#db);
      if (!stored) {
        this.phase = 'setup';
        return;
      }
      if (this.pendingImport) {
        this.pendingImport = undefined;
        notify('This browser already belongs to a fleet; the backup in the link was not imported.');
      }
      await this.#start(new FleetState(this.#db, stored, this.#journalHooks()));
    } catch (error) {
      console.error('[flotilla] could not start', error);
      this.failure = error instanceof Error ? error.message : String(error);
      this.phase = 'failed';
    }
  }

  /**
   * First run: a new fleet. This device's keys are non-extractable; the fleet key is extractable,
   * since this browser is its only holder and Settings must be able to back it up (sealed with a passphrase).
   */
  async createFleet(deviceName: string, signal: string): Promise<void> {
    const device = await createFleet(deviceName, false, true);
    const stored = await saveIdentity(this.db, device, signal.endsWith('/') ? signal : `${signal}/`);
    await this.#start(new FleetState(this.db, stored, this.#journalHooks()));
  }

  /** First run from a backup: the fleet key is imported non-extractable, with a new admin device. */
  async importFleet(backup: string, passphrase: string, deviceName: string): Promise<void> {
    const imported = await importFleetBackup(backup, passphrase, false);
    const device = await deviceFromFleetKeys(imported.fleetKeys, imported.fleetPub, deviceName, false);
    const stored = await saveIdentity(this.db, device, imported.signal.endsWith('/') ? imported.signal : `${imported.signal}/`);
    await this.#start(new FleetState(this.db, stored, this.#journalHooks()));
  }

  /**
   * Results a closed page left running are collected from each host's journal when the fleet
   * next connects to it. Updates are serialised: several hosts may answer for one task.
   */
  #journalHooks(): JournalHooks {
    let writes: Promise<void> = Promise.resolve();
    return {
      awaiting: () => awaitingByHost(this.tasks, new Set(this.run?.running ? [this.run.id] : [])),
      collected: (hostId, asked, entries) => {
        const next = writes
          .catch(() => undefined)
          .then(async () => {
            const askedSet = new Set(asked);
            for (const listed of this.tasks) {
              if (!listed.hosts.some((h) => h.hostId === hostId && h.status === 'running')) continue;
              // A push of several files is one result from all its parts: only with all of them asked.
              const ids = journalIds(listed);
              if (!ids.every((j) => askedSet.has(j))) continue;
              const task = await getTask(this.db, listed.id);
              if (!task) continue;
              const updated = applyJournal(
                task,
                hostId,
                ids.map((j) => entries.find((e) => e.task === j) ?? 'missing'),
              );
              if (updated.hosts.some((h, i) => h !== task.hosts[i])) await this.saveTask(updated);
            }
          });
        writes = next;
        return next;
      },
    };
  }

  async #start(fleet: FleetState): Promise<void> {
    this.fleet = fleet;
    this.phase = 'ready';
    await fleet.start();
  }

  /** Starts a command on `targets`; the task lands in history as it progresses. */
  startRun(selector: string, command: string, targets: readonly Target[], timeoutMs?: number): TaskRun {
    return this.startTask(selector, commandSpec(command, timeoutMs), targets);
  }

  /** Starts any task (command, script, push, fetch) on `targets`; with `queue`, offline hosts get it through the fleet store. */
  startTask(selector: string, spec: TaskSpec, targets: readonly Target[], queue?: { deadline: number; window: boolean }): TaskRun {
    const fleet = this.fleet;
    if (!fleet) throw new FlotillaError('internal', 'no fleet yet');
    this.run?.release();
    const run = new TaskRun({ fleet, selector, spec, targets, onSave: (record) => this.saveTask(record), ...(queue ? { queue } : {}) });
    this.run = run;
    return run;
  }

  async saveTask(record: TaskRecord): Promise<void> {
    await saveTask(this.db, record);
    this.tasks = [record, ...this.tasks.filter((t) => t.id !== record.id)].sort((a, b) => b.startedAt - a.startedAt);
    // Every device's history: a document once the task ended (hosts still running are collected later, here).
    const fleet = this.fleet;
    const said = record.hosts.map((h) => h.status).join();
    if (fleet && record.endedAt !== undefined && !record.from && this.#shared.get(record.id) !== said) {
      this.#shared.set(record.id, said);
      fleet.store.write(historyFromTask(record), record.id).catch((error: unknown) => {
        this.#shared.delete(record.id);
        console.warn('[flotilla] the task could not be written to the fleet store', error);
      });
    }
  }

  async setRetention(days: number): Promise<void> {
    if (!isDays(days)) throw new FlotillaError('bad-config', 'keep history for a whole number of days, 1 or more');
    this.retentionDays = days;
    await putSetting(this.db, 'retentionDays', days);
    if ((await pruneTasks(this.db, days)) > 0) this.tasks = await listTasks(this.db);
  }
}

export const app = new AppState();
