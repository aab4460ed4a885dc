// The fleet as this browser sees it: the controller core over the PeerJS dialer, hosts and
// tokens from IndexedDB, online status from presence (polled), and hosts discovered as they come.

import { FlotillaError, toWireError, type ErrorCode } from '../../../../shared/wire/errors.ts';
import { createController, type Controller } from '../../../../shared/controller/controller.ts';
import { callOk, type AgentConnection } from '../../../../shared/controller/agent-connection.ts';
import * as capabilities from '../../../../capabilities/registry.ts';
import { fetchPresence, type PresenceEntry } from '../../../../shared/controller/signal-api.ts';
import { createJoinToken, encodeJoinToken } from '../../../../shared/identity/tokens.ts';
import { toSelectable, type HostRecord, type TokenRecord, type TokenStore } from '../../../../shared/controller/hosts.ts';
import type { SelectableHost } from '../../../../shared/controller/selector.ts';
import { createPeerjsDialer, type PeerjsDialer } from '../transport/peerjs-dialer.ts';
import { createHostStore, createTokenStore } from '../db/stores.ts';
import type { Db, StoredDevice } from '../db/schema.ts';
import { buildRows, countRows, type HostRow } from './host-rows.ts';
import { failReason, type ConnectionState } from './connection-state.ts';
import { JOURNAL_BATCH, parseJournal, type JournalResult } from './journal-collect.ts';
import { FleetStore } from './fleet-store.svelte.ts';
import { applyStoreDocs, hostDecided, removeHost, tokenChanged } from './fleet-docs.ts';

const POLL_MS = 5_000;
/** How soon a host that failed to answer is tried again. */
const RETRY_MS = 15_000;
/** How often a pending host's facts are re-read while it waits for a decision. */
const PENDING_REFRESH_MS = 30_000;

/** Answers of the signaling server that mean "not this device", not "try again". */
const REFUSED: readonly ErrorCode[] = ['cert-revoked', 'cert-expired', 'not-in-fleet', 'bad-token', 'forbidden'];
/** How soon a host whose journal still shows a task running is asked again. */
const JOURNAL_RETRY_MS = 3_000;

/** What the fleet asks of the task history: results it waits for, and where collected ones go. */
export interface JournalHooks {
  /** Task ids per host that history has as running with no page following them. */
  awaiting(): ReadonlyMap<string, readonly string[]>;
  /** Fills in what a host's journal said about `asked`. */
  collected(hostId: string, asked: readonly string[], entries: readonly JournalResult[]): Promise<void>;
}

/** The one-line install command for a join token. */
export function installCommand(signal: string, token: string): string {
  return `curl -fsSL ${signal}agent/flotilla-agent.mjs -o flotilla-agent.mjs && node flotilla-agent.mjs join ${token}`;
}

export class FleetState {
  readonly db: Db;
  readonly stored: StoredDevice;
  readonly controller: Controller;
  readonly dialer: PeerjsDialer;

  hosts = $state.raw<HostRecord[]>([]);
  tokens = $state.raw<TokenRecord[]>([]);
  presence = $state.raw<Map<string, PresenceEntry>>(new Map());
  /** Whether the last presence poll reached the signaling server, and whether it refused this device. */
  signal = $state<'unknown' | 'ok' | 'down' | 'refused'>('unknown');
  signalError = $state<string | undefined>(undefined);
  /** Why the signaling server refused this device (revoked, expired, not in the fleet). */
  refusal = $state<ErrorCode | undefined>(undefined);
  /** The signaling server refused this device's credential as stale: this device's clock is off by minutes or more. */
  clockOff = $state(false);
  /** Each host's connection: connecting, connected (with its path), failed (with the reason). */
  connections = $state.raw<Map<string, ConnectionState>>(new Map());
  /** The fleet store: host decisions, tokens, history and queued tasks shared by every device. */
  readonly store: FleetStore;
  rows: HostRow[] = $derived(buildRows(this.hosts, this.presence, this.removed));
  counts = $derived(countRows(this.rows));

  #timer: ReturnType<typeof setInterval> | undefined;
  #attempts = new Map<string, number>();
  #busy = new Set<string>();
  #online = new Set<string>();
  #polled = false;
  #tokenStore: TokenStore;
  #tracked = new Map<string, Promise<AgentConnection>>();
  #journal: JournalHooks | undefined;
  #journalAsked = new Map<string, number>();
  #collecting = new Set<string>();

  constructor(db: Db, stored: StoredDevice, journal?: JournalHooks) {
    this.#journal = journal;
    this.db = db;
    this.stored = stored;
    const log = (event: string, fields?: Record<string, unknown>) => console.debug(`[flotilla] ${event}`, fields ?? '');
    this.store = new FleetStore({
      db,
      stored,
      localHosts: () => this.hosts.filter((h) => h.status === 'accepted' && h.encPub).map((h) => ({ id: h.id, encPub: h.encPub })),
      onSynced: () => applyStoreDocs(this),
    });
    this.#tokenStore = createTokenStore(db, (t) => {
      this.tokens = [...this.tokens.filter((x) => x.tid !== t.tid), t];
      void tokenChanged(this, t);
    });
    this.dialer = createPeerjsDialer({ signal: stored.signal, device: stored.device, log });
    const core = createController({
      device: stored.device,
      dialer: this.dialer,
      hosts: createHostStore(db, (r) => {
        const before = this.hosts.find((h) => h.id === r.id)?.status;
        this.hosts = [...this.hosts.filter((h) => h.id !== r.id), r];
        // A decision made here (accept, reject, a host joining with a token) goes to the store.
        if (before !== r.status) void hostDecided(this, r);
      }),
      tokens: this.#tokenStore,
      forks: 16,
      log,
    });
    // The same core, with every connection it opens followed for the UI (state, path, journal).
    this.controller = {
      ...core,
      connect: (id) => this.#track(id, core.connect(id)),
      refresh: async (id) => {
        await this.controller.connect(id);
        return core.refresh(id);
      },
      accept: async (id) => {
        const record = await core.accept(id);
        await this.controller.connect(id);
        return record;
      },
    };
  }

  #setConnection(id: string, state: ConnectionState): void {
    this.connections = new Map(this.connections).set(id, state);
  }

  /** Follows one opening connection: its state, its path, and results waiting in its journal. */
  #track(id: string, opening: Promise<AgentConnection>): Promise<AgentConnection> {
    if (this.#tracked.get(id) === opening) return opening;
    this.#tracked.set(id, opening);
    this.#setConnection(id, { state: 'connecting', since: Date.now() });
    opening.then(
      (connection) => {
        if (this.#tracked.get(id) !== opening) return;
        this.#setConnection(id, { state: 'connected', since: Date.now(), path: undefined });
        void this.measure(id);
        connection.onPathChange(() => void this.measure(id));
        connection.onClose(() => {
          if (this.#tracked.get(id) !== opening) return;
          this.#tracked.delete(id);
          this.#setConnection(id, { state: 'closed', since: Date.now() });
        });
        void this.collect(id);
      },
      (error: unknown) => {
        if (this.#tracked.get(id) !== opening) return;
        this.#tracked.delete(id);
        const wire = toWireError(error);
        this.#setConnection(id, { state: 'failed', since: Date.now(), reason: failReason(wire.code), code: wire.code, detail: wire.detail });
      },
    );
    return opening;
  }

  /** Re-reads the path (and round-trip time) of an open connection to `id`. Never throws. */
  async measure(id: string): Promise<void> {
    const opening = this.#tracked.get(id);
    const current = this.connections.get(id);
    if (!opening || current?.state !== 'connected') return;
    try {
      const path = await (await opening).path();
      if (this.#tracked.get(id) === opening && this.connections.get(id)?.state === 'connected') this.#setConnection(id, { ...current, path });
    } catch (error) {
      console.debug('[flotilla] could not read the connection path', error);
    }
  }

  /** Connects to a host now (or reuses the connection) and re-reads its facts. */
  async connectNow(id: string): Promise<void> {
    await this.controller.refresh(id);
  }

  /** Asks a connected host's journal for tasks history still has as running there. Never throws. */
  async collect(id: string): Promise<void> {
    const asked = [...(this.#journal?.awaiting().get(id) ?? [])].slice(-JOURNAL_BATCH);
    if (!this.#journal || asked.length === 0 || this.#collecting.has(id)) return;
    this.#journalAsked.set(id, Date.now());
    this.#collecting.add(id);
    try {
      const connection = await this.controller.connect(id);
      const result = await callOk(connection, capabilities.journal, { tasks: asked });
      // Entries the agent left out to keep its answer within a message are asked for next time.
      const omitted = new Set(result.omitted ?? []);
      await this.#journal.collected(
        id,
        asked.filter((task) => !omitted.has(task)),
        parseJournal(result),
      );
    } catch (error) {
      console.warn(`[flotilla] could not read the journal of ${id.slice(0, 8)}`, error);
    } finally {
      this.#collecting.delete(id);
    }
  }

  /** Sets (value) or removes (empty value) tags on a host, then re-reads its facts. */
  async setTags(id: string, tags: Record<string, string>): Promise<void> {
    const connection = await this.controller.connect(id);
    await callOk(connection, capabilities.tags, { tags });
    await this.controller.refresh(id);
  }

  /** Hosts an operator removed from the fleet (they are not shown, even while their agent still runs). */
  get removed(): ReadonlySet<string> {
    return new Set([...this.store.hostDocs.values()].filter((d) => d.decision === 'removed').map((d) => d.host));
  }

  get device() {
    return this.stored.device;
  }

  /** Loads what IndexedDB holds (enough to work offline), then polls presence. */
  async start(): Promise<void> {
    this.hosts = await this.db.getAll('hosts');
    this.tokens = await this.db.getAll('tokens');
    void this.store.start();
    void this.poll();
    this.#timer = setInterval(() => void this.poll(), POLL_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.store.stop();
    this.controller.close();
    this.dialer.close();
  }

  /** Reads presence and learns about hosts that came online. Never throws. */
  async poll(): Promise<void> {
    try {
      const entries = await fetchPresence(this.stored.signal, this.device);
      this.presence = new Map(entries.map((p) => [p.id, p]));
      this.signal = 'ok';
      this.signalError = undefined;
      this.refusal = undefined;
      this.clockOff = false;
      void this.store.maybeSync();
    } catch (error) {
      // A stale credential is the clock's fault, not a refusal of this device: say that instead.
      this.clockOff = error instanceof FlotillaError && error.code === 'bad-token' && /clock/.test(error.detail ?? '');
      const refused = error instanceof FlotillaError && REFUSED.includes(error.code) && !this.clockOff ? error.code : undefined;
      this.signal = refused ? 'refused' : 'down';
      this.refusal = refused;
      this.signalError = error instanceof Error ? error.message : String(error);
      return;
    }
    await this.discover();
  }

  /** Connects to online hosts never contacted, pending ones now and then, and returning ones. */
  async discover(): Promise<void> {
    const now = Date.now();
    const known = new Map(this.hosts.map((h) => [h.id, h]));
    const online = [...this.presence.values()].filter((p) => p.online).map((p) => p.id);
    const awaiting = this.#journal?.awaiting() ?? new Map<string, readonly string[]>();
    const todo = online.filter((id) => {
      const record = known.get(id);
      const last = this.#attempts.get(id) ?? 0;
      if (record?.status === 'rejected' || this.removed.has(id) || this.#busy.has(id)) return false;
      // Results to collect: ask again while the host still runs them.
      if (record?.status === 'accepted' && awaiting.has(id) && now - (this.#journalAsked.get(id) ?? 0) > JOURNAL_RETRY_MS) return true;
      // Hosts already known at start are not all dialled at once: only ones that return later.
      const cameBack = this.#polled && !this.#online.has(id);
      if (!record || !record.facts) return now - last > RETRY_MS;
      if (record.status === 'pending') return now - last > PENDING_REFRESH_MS;
      return cameBack;
    });
    this.#online = new Set(online);
    this.#polled = true;
    for (const id of todo) {
      this.#attempts.set(id, now);
      this.#busy.add(id);
    }
    const work = async (id: string) => {
      try {
        await this.controller.refresh(id);
        if (awaiting.has(id)) await this.collect(id);
      } finally {
        this.#busy.delete(id);
      }
    };
    await this.controller.fanOut(todo, work, (s) => {
      if (!s.ok) console.warn(`[flotilla] could not reach ${s.hostId.slice(0, 8)}: ${s.error.message}`);
    });
  }

  async accept(id: string): Promise<void> {
    await this.controller.accept(id);
  }

  async reject(id: string): Promise<void> {
    await this.controller.reject(id);
  }

  /** Removes a host from the fleet, as `flotilla remove` does (this device holds the fleet key). */
  async remove(id: string): Promise<void> {
    await removeHost(this, id);
  }

  /** Puts a record as the store says it is, without writing it back to the store. */
  async putFromStore(record: HostRecord): Promise<void> {
    await this.db.put('hosts', record);
    this.hosts = [...this.hosts.filter((h) => h.id !== record.id), record];
  }

  /** Forgets a host (removed from the fleet) and closes any connection to it. */
  async forget(id: string): Promise<void> {
    await this.db.delete('hosts', id);
    this.hosts = this.hosts.filter((h) => h.id !== id);
    void this.#tracked.get(id)?.then(
      (c) => c.close(),
      () => undefined,
    );
  }

  /** Puts a token as the store says it is, without writing it back. */
  async putTokenFromStore(record: TokenRecord): Promise<void> {
    await this.db.put('tokens', record);
    this.tokens = [...this.tokens.filter((t) => t.tid !== record.tid), record];
  }

  /** Makes a join token (this device holds the fleet key) and returns its install command. */
  async createToken(ttlMs: number, maxUses = 1): Promise<{ tid: string; token: string; install: string }> {
    if (!this.device.fleetKeys) throw new FlotillaError('forbidden', 'only a device holding the fleet key can create join tokens');
    const token = createJoinToken(this.stored.signal, this.device.fleetId, ttlMs);
    await this.#tokenStore.put({ tid: token.tid, secret: token.secret, exp: token.exp, createdAt: Date.now(), revoked: false, usedBy: [], maxUses });
    const text = encodeJoinToken(token);
    return { tid: token.tid, token: text, install: installCommand(this.stored.signal, text) };
  }

  async revokeToken(tid: string): Promise<void> {
    const token = this.tokens.find((t) => t.tid === tid);
    if (!token) return;
    await this.#tokenStore.put({ ...token, revoked: true });
  }

  /** Accepted hosts in the form selectors match on. */
  selectable(): SelectableHost[] {
    return this.hosts.filter((h) => h.status === 'accepted').map((h) => toSelectable(h, this.presence.get(h.id)?.online ?? false));
  }

  record(id: string): HostRecord | undefined {
    return this.hosts.find((h) => h.id === id);
  }
}
