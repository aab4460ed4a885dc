// The PWA's side of the fleet store (shared/store/fleet-sync.ts): this browser's device as the
// member, its cache in IndexedDB, syncs on open, every 30 s while the page is visible and after
// every write, and the documents as reactive views for the pages. When the store cannot be
// reached the app works from the cache and says so in one quiet line (SignalBanner).

import { FlotillaError } from '../../../../shared/wire/errors.ts';
import { FleetSync, deviceMember, type KnownMember, type QueueEntry, type SyncSnapshot } from '../../../../shared/store/fleet-sync.ts';
import type { HistoryDoc, HostDoc, JobDoc, JobRunsDoc, Payload, TaskDoc, TokenDoc } from '../../../../shared/store/documents.ts';
import type { HttpFetch } from '../../../../shared/controller/signal-api.ts';
import type { Db, StoredDevice } from '../db/schema.ts';
import { jobsFromStore } from '../jobs-view.ts';
import { alertsFromStore, type AlertDocs } from '../alerts-view.ts';

/** How often the store is read while the page is visible. */
export const SYNC_MS = 30_000;

/** `none`: the signaling server has no store (an older server); `down`: it could not be reached. */
export type StoreState = 'unknown' | 'ok' | 'down' | 'none';

export interface FleetStoreOptions {
  db: Db;
  stored: StoredDevice;
  /** Accepted hosts of this browser's inventory (an admin adds them to the fleet keyring). */
  localHosts: () => KnownMember[];
  /** Called after every sync that read something, to bring local records in step. */
  onSynced: () => Promise<void>;
  http?: HttpFetch;
}

/** The store's cache, one IndexedDB entry per fleet. */
function idbCache(db: Db, key: string) {
  return {
    load: () => db.get('sync', key),
    save: async (snapshot: SyncSnapshot) => {
      await db.put('sync', snapshot, key);
    },
  };
}

export class FleetStore {
  state = $state<StoreState>('unknown');
  detail = $state<string | undefined>(undefined);
  lastSync = $state<number | undefined>(undefined);
  hostDocs = $state.raw<Map<string, HostDoc & { by: string }>>(new Map());
  tokenDocs = $state.raw<TokenDoc[]>([]);
  history = $state.raw<(HistoryDoc & { deviceId: string })[]>([]);
  queue = $state.raw<QueueEntry[]>([]);
  /** Job documents (deleted ones included), with the device that saved each. */
  jobDocs = $state.raw<(JobDoc & { by: string })[]>([]);
  /** Each host's newest runs per job, as the host wrote them. */
  jobRuns = $state.raw<JobRunsDoc[]>([]);
  /** Alert states (each from the host it is about), rules, channels and silences. */
  alerts = $state.raw<AlertDocs>({ states: [], rules: [], channels: [], silences: [] });
  refused = $state(0);
  readonly sync: FleetSync;
  #options: FleetStoreOptions;
  #lastAttempt = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #loaded: Promise<void> | undefined;
  /** Writes that failed while the store was down, tried again after the next sync that works. */
  #outbox = new Map<string, () => Promise<unknown>>();
  #onVisible = () => {
    if (document.visibilityState === 'visible') void this.syncNow();
  };

  constructor(options: FleetStoreOptions) {
    this.#options = options;
    const d = options.stored.device;
    this.sync = new FleetSync({
      signal: options.stored.signal,
      member: deviceMember(d),
      cache: idbCache(options.db, d.fleetId),
      revocation: () => d.revocation,
      localHosts: options.localHosts,
      ...(options.http ? { http: options.http } : {}),
    });
  }

  /** Reads the cache (the app works from it at once), then syncs; then every 30 s while visible. */
  async start(): Promise<void> {
    this.#loaded ??= this.sync.load().then(
      () => this.#publish(),
      (error: unknown) => console.warn('[flotilla] the fleet store cache could not be read', error),
    );
    await this.#loaded;
    await this.#options.onSynced();
    void this.syncNow();
    this.#timer = setInterval(() => void this.maybeSync(), SYNC_MS);
    document.addEventListener('visibilitychange', this.#onVisible);
  }

  stop(): void {
    clearInterval(this.#timer);
    document.removeEventListener('visibilitychange', this.#onVisible);
  }

  /** Syncs when the page is visible and the last try is `SYNC_MS` old (presence polls call this). */
  async maybeSync(): Promise<void> {
    if (document.visibilityState !== 'visible' || Date.now() - this.#lastAttempt < SYNC_MS - 1000) return;
    await this.syncNow();
  }

  /** Reads what is new in the store. Never throws: a store that cannot be reached leaves the cache as it is. */
  async syncNow(): Promise<void> {
    this.#lastAttempt = Date.now();
    await this.#loaded;
    try {
      await this.sync.sync();
      this.state = 'ok';
      this.detail = undefined;
      this.lastSync = Date.now();
    } catch (error) {
      this.#failed(error);
    }
    this.#publish();
    try {
      await this.#options.onSynced();
    } catch (error) {
      console.warn('[flotilla] applying the fleet store failed', error);
    }
    if (this.state === 'ok' && this.#outbox.size > 0) await this.#flush();
  }

  #failed(error: unknown): void {
    const message = error instanceof FlotillaError ? (error.detail ?? error.message) : String(error);
    // Said once on the page (SignalBanner), and once in the console per change of state.
    if (this.state !== 'down' || this.detail !== message) console.debug('[flotilla] fleet store unreachable', message);
    this.state = error instanceof FlotillaError && /has no store/.test(message) ? 'none' : 'down';
    this.detail = message;
  }

  #publish(): void {
    this.hostDocs = this.sync.hosts();
    this.tokenDocs = this.sync.tokens();
    this.history = this.sync.history();
    this.queue = this.sync.queue();
    this.#publishJobs();
    this.alerts = alertsFromStore((['alertstate', 'alert', 'channel', 'silence'] as const).flatMap((t) => this.sync.docsOf(t)));
    const refusals = this.sync.refusals();
    // Records this device refused (a forged or replayed one, a writer without the role): said in the console.
    if (refusals.length > this.refused)
      for (const r of refusals.slice(0, refusals.length - this.refused)) console.warn('[flotilla] store-refused', r.rid, r.reason);
    this.refused = refusals.length;
  }

  #publishJobs(): void {
    const { jobs, runs } = jobsFromStore(this.sync.docsOf('job'), this.sync.docsOf('jobruns'));
    this.jobDocs = jobs;
    this.jobRuns = runs;
  }

  async #flush(): Promise<void> {
    const pending = [...this.#outbox.entries()];
    this.#outbox.clear();
    for (const [key, write] of pending) {
      try {
        await write();
      } catch (error) {
        this.#outbox.set(key, write);
        this.#failed(error);
        break;
      }
    }
    this.#publish();
  }

  /**
   * Writes a document, then syncs. When the store cannot be reached the write waits for the
   * next sync that works (the newest write per document); returns false when another device's
   * newer change won.
   */
  async write(payload: Payload, name: string, options?: Parameters<FleetSync['write']>[2]): Promise<boolean> {
    await this.#loaded;
    const attempt = () => this.sync.write(payload, name, options);
    let won: boolean;
    try {
      won = await attempt();
    } catch (error) {
      if (error instanceof FlotillaError && (error.code === 'signaling-failed' || error.code === 'bad-config')) {
        this.#outbox.set(`${payload.type}:${name}`, attempt);
        this.#failed(error);
        this.#publish();
        return true;
      }
      throw error;
    }
    this.#publish();
    void this.syncNow();
    return won;
  }

  /** Leaves a task for offline hosts (or a tag window), then syncs. Throws when the store cannot take it: the caller says so. */
  async queueTask(task: Omit<TaskDoc, 'type' | 'host' | 'window' | 'cancelled' | 'at'>, target: { hosts: KnownMember[] } | { window: true }): Promise<void> {
    await this.#loaded;
    await this.sync.queueTask(task, target);
    void this.syncNow();
  }

  async cancelTask(task: string): Promise<number> {
    await this.#loaded;
    const n = await this.sync.cancelTask(task);
    void this.syncNow();
    return n;
  }
}
