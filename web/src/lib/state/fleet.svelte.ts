// The fleet as this browser sees it: the controller core over the PeerJS dialer, hosts and
// tokens from IndexedDB, online status from presence (polled), and hosts discovered as they come.

import { FlotillaError } from '../../../../shared/errors.ts';
import { createController, type Controller } from '../../../../shared/controller.ts';
import { fetchPresence, type PresenceEntry } from '../../../../shared/signal-api.ts';
import { createJoinToken, encodeJoinToken } from '../../../../shared/tokens.ts';
import { toSelectable, type HostRecord, type TokenRecord, type TokenStore } from '../../../../shared/hosts.ts';
import type { SelectableHost } from '../../../../shared/selector.ts';
import { createPeerjsDialer, type PeerjsDialer } from '../transport/peerjs-dialer.ts';
import { createHostStore, createTokenStore } from '../db/stores.ts';
import type { Db, StoredDevice } from '../db/schema.ts';
import { buildRows, countRows, type HostRow } from './host-rows.ts';

const POLL_MS = 5_000;
/** How soon a host that failed to answer is tried again. */
const RETRY_MS = 15_000;
/** How often a pending host's facts are re-read while it waits for a decision. */
const PENDING_REFRESH_MS = 30_000;

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
  /** Whether the last presence poll reached the signaling server. */
  signal = $state<'unknown' | 'ok' | 'down'>('unknown');
  signalError = $state<string | undefined>(undefined);
  rows: HostRow[] = $derived(buildRows(this.hosts, this.presence));
  counts = $derived(countRows(this.rows));

  #timer: ReturnType<typeof setInterval> | undefined;
  #attempts = new Map<string, number>();
  #busy = new Set<string>();
  #online = new Set<string>();
  #polled = false;
  #tokenStore: TokenStore;

  constructor(db: Db, stored: StoredDevice) {
    this.db = db;
    this.stored = stored;
    const log = (event: string, fields?: Record<string, unknown>) => console.debug(`[flotilla] ${event}`, fields ?? '');
    this.#tokenStore = createTokenStore(db, (t) => (this.tokens = [...this.tokens.filter((x) => x.tid !== t.tid), t]));
    this.dialer = createPeerjsDialer({ signal: stored.signal, device: stored.device, log });
    this.controller = createController({
      device: stored.device,
      dialer: this.dialer,
      hosts: createHostStore(db, (r) => (this.hosts = [...this.hosts.filter((h) => h.id !== r.id), r])),
      tokens: this.#tokenStore,
      forks: 16,
      log,
    });
  }

  get device() {
    return this.stored.device;
  }

  /** Loads what IndexedDB holds (enough to work offline), then polls presence. */
  async start(): Promise<void> {
    this.hosts = await this.db.getAll('hosts');
    this.tokens = await this.db.getAll('tokens');
    void this.poll();
    this.#timer = setInterval(() => void this.poll(), POLL_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
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
    } catch (error) {
      this.signal = 'down';
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
    const todo = online.filter((id) => {
      const record = known.get(id);
      const last = this.#attempts.get(id) ?? 0;
      if (record?.status === 'rejected' || this.#busy.has(id)) return false;
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
    await this.controller.fanOut(todo, (id) => this.controller.refresh(id).finally(() => this.#busy.delete(id)), (s) => {
      if (!s.ok) console.warn(`[flotilla] could not reach ${s.hostId.slice(0, 8)}: ${s.error.message}`);
    });
  }

  async accept(id: string): Promise<void> {
    await this.controller.accept(id);
  }

  async reject(id: string): Promise<void> {
    await this.controller.reject(id);
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
