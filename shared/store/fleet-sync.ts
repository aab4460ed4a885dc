// One fleet state on every device: the device side of the sealed store. A FleetSync pulls what
// is new since its last sequence number, verifies and opens each record (refusing and noting
// what fails), keeps the newest version of every document in a cache the caller persists (the
// CLI's home, the PWA's IndexedDB), writes documents with the conflict rule below, and, on an
// admin device, keeps the scope keyrings' members in step with the fleet.
//
// Conflict rule (docs/store.md): one record per entity (a host, a token, a selector). A writer
// puts version = the newest it knows + 1. If the store already holds that version (another
// device wrote meanwhile, perhaps while this one was offline), the writer syncs, then keeps its
// change only if it is newer by the writers' clocks (`at`, ties to the larger device id): it
// writes again on top; otherwise the stored document wins and the change is dropped.

import { FlotillaError } from '../wire/errors.ts';
import type { RevocationList } from '../identity/certs.ts';
import type { DeviceIdentity } from '../identity/fleet.ts';
import type { HttpFetch } from '../controller/signal-api.ts';
import {
  DEVICES,
  EVERYONE,
  checkWriterRole,
  openPayload,
  opaqueRid,
  sealRecord,
  verifyRecord,
  type Envelope,
  type Recipients,
  type RecordSigner,
  type Scope,
  type StoredRecord,
} from './envelope.ts';
import { addMembers, createKeyring, epochKeys, keyringRid, openKeyring, rotateKeyring, scopeSealKey, type Keyring } from './keyring.ts';
import {
  parsePayload,
  PLACEMENT,
  type HistoryDoc,
  type HostDoc,
  type Payload,
  type ResultDoc,
  type SelectorDoc,
  type TaskDoc,
  type TokenDoc,
} from './documents.ts';
import { storePut, storeSync, type StoreMember } from './client.ts';

/** A document as this device last read or wrote it. */
export interface OpenedDoc {
  rid: string;
  version: number;
  sig: string;
  payload: Payload;
  signer: { id: string; kind: 'device' | 'host'; role?: string; name?: string; encPub: string };
  iat: number;
}

/** A record this device could not accept, kept for `flotilla store refusals` and the PWA. */
export interface Refusal {
  rid: string;
  by?: string;
  at: number;
  reason: string;
}

/** One queued task and where it stands on each host. */
export interface QueueEntry {
  task: string;
  summary: string;
  selector: string;
  deadline: number;
  window: boolean;
  by: string;
  at: number;
  cancelled?: boolean;
  hosts: { host: string; state: string; result?: ResultDoc }[];
}

/** What the caller persists between runs. Keyrings stay sealed: they are opened again at load. */
export interface SyncSnapshot {
  v: 1;
  since: number;
  keyrings: Partial<Record<Scope, StoredRecord>>;
  docs: Record<string, OpenedDoc>;
  /** Verified records this device could not open yet (no key for their epoch). */
  pending: StoredRecord[];
  refused: Refusal[];
}

export interface SyncCache {
  load(): Promise<unknown>;
  save(snapshot: SyncSnapshot): Promise<void>;
}

/** A member as an admin knows it locally (hosts accepted before the store existed, this device). */
export interface KnownMember {
  id: string;
  encPub: string;
}

export interface FleetSyncOptions {
  signal: string;
  member: StoreMember & { name: string; role: string };
  cache: SyncCache;
  revocation: () => RevocationList | undefined;
  /** Hosts this device accepted before it kept documents (an admin adds them to the keyrings). */
  localHosts?: () => KnownMember[];
  http?: HttpFetch;
  now?: () => number;
}

/** A device identity as FleetSync's member: its keys, certificate, name and role. */
export function deviceMember(d: DeviceIdentity): FleetSyncOptions['member'] {
  return {
    id: d.id,
    keys: d.keys,
    pub: d.pub,
    kind: 'device',
    fleetId: d.fleetId,
    fleetPub: d.fleetPub,
    cert: d.cert,
    name: d.cert.body.name,
    role: d.cert.body.role,
  };
}

const MAX_PENDING = 2000;
const MAX_REFUSED = 200;

function emptySnapshot(): SyncSnapshot {
  return { v: 1, since: 0, keyrings: {}, docs: {}, pending: [], refused: [] };
}

function restore(raw: unknown): SyncSnapshot {
  if (typeof raw !== 'object' || raw === null || (raw as { v?: unknown }).v !== 1) return emptySnapshot();
  const s = raw as SyncSnapshot;
  return {
    v: 1,
    since: Number.isSafeInteger(s.since) ? s.since : 0,
    keyrings: s.keyrings ?? {},
    docs: s.docs ?? {},
    pending: Array.isArray(s.pending) ? s.pending : [],
    refused: Array.isArray(s.refused) ? s.refused : [],
  };
}

/** Newer by the writers' clocks, ties to the larger signer id. */
function newer(a: { at: number; by: string }, b: { at: number; by: string }): boolean {
  return a.at > b.at || (a.at === b.at && a.by > b.by);
}

export class FleetSync {
  private snap: SyncSnapshot = emptySnapshot();
  private rings: Partial<Record<Scope, { ring?: Keyring; envelope: Envelope; keys: Map<number, CryptoKey> }>> = {};
  private readonly now: () => number;
  private syncing: Promise<void> | undefined;

  constructor(private readonly options: FleetSyncOptions) {
    this.now = options.now ?? Date.now;
  }

  get id(): string {
    return this.options.member.id;
  }

  private get trust() {
    return { fleetId: this.options.member.fleetId, fleetPub: this.options.member.fleetPub, revocation: this.options.revocation() };
  }

  /** Reads the cache and opens the cached keyrings again. */
  async load(): Promise<void> {
    this.snap = restore(await this.options.cache.load());
    for (const scope of ['fleet', 'devices'] as const) {
      const record = this.snap.keyrings[scope];
      if (!record) continue;
      try {
        await this.takeKeyring(scope, record);
      } catch {
        delete this.snap.keyrings[scope];
      }
    }
  }

  private async takeKeyring(scope: Scope, record: StoredRecord): Promise<void> {
    const { envelope } = await verifyRecord(record, this.trust);
    const m = this.options.member;
    const ring = await openKeyring(envelope, { id: m.id, encPriv: m.keys.enc.privateKey });
    this.rings[scope] = { ...(ring ? { ring } : {}), envelope, keys: ring ? await epochKeys(ring) : new Map() };
    this.snap.keyrings[scope] = record;
  }

  private refuse(record: StoredRecord, reason: string): void {
    this.snap.refused = [{ rid: record.rid, ...(record.by ? { by: record.by } : {}), at: this.now(), reason }, ...this.snap.refused].slice(0, MAX_REFUSED);
  }

  /** Verifies, checks role and version, opens; returns false when it could not be opened yet. */
  private async take(record: StoredRecord): Promise<boolean> {
    const { envelope, signer } = await verifyRecord(record, this.trust);
    checkWriterRole(record.kind, signer);
    const known = this.snap.docs[record.rid];
    if (known && record.version < known.version)
      throw new FlotillaError('bad-record', `version ${record.version} is older than version ${known.version} already read`);
    if (known && record.version === known.version) {
      if (known.sig === envelope.sig) return true;
      throw new FlotillaError('bad-record', `a second, different version ${record.version}`);
    }
    if (record.kind === 'keyring') {
      if (record.rid !== keyringRid(envelope.pub?.scope ?? 'fleet')) throw new FlotillaError('bad-record', 'keyring under another id');
      const current = this.snap.keyrings[envelope.pub!.scope];
      // This device's own keyring write, listed back to it: already taken.
      if (current && current.version === record.version && current.body === record.body) return true;
      if (current && current.version >= record.version)
        throw new FlotillaError('bad-record', `keyring version ${record.version} is not newer than ${current.version}`);
      await this.takeKeyring(envelope.pub!.scope, record);
      return true;
    }
    const m = this.options.member;
    const opened = await openPayload(envelope, {
      id: m.id,
      encPriv: m.keys.enc.privateKey,
      scopeKey: (scope, epoch) => this.rings[scope]?.keys.get(epoch),
    });
    if (!opened) return false;
    const payload = parsePayload(opened.payload);
    if (PLACEMENT[payload.type].kind !== record.kind) throw new FlotillaError('bad-record', `a ${payload.type} payload in a ${record.kind} record`);
    this.checkPayloadSigner(payload, signer);
    this.snap.docs[record.rid] = {
      rid: record.rid,
      version: record.version,
      sig: envelope.sig,
      payload,
      signer: {
        id: signer.id,
        kind: signer.kind,
        encPub: signer.encPub,
        ...(signer.role ? { role: signer.role } : {}),
        ...(signer.name ? { name: signer.name } : {}),
      },
      iat: envelope.iat,
    };
    return true;
  }

  /** Rules that depend on the payload: a host writes results about itself only, only devices write history. */
  private checkPayloadSigner(payload: Payload, signer: RecordSigner): void {
    if (payload.type === 'result' && (signer.kind !== 'host' || payload.host !== signer.id))
      throw new FlotillaError('bad-record', 'a result not written by the host it is about');
    if (payload.type === 'history' && signer.kind !== 'device') throw new FlotillaError('bad-record', 'history written by a host');
    if (payload.type === 'device' && signer.kind !== 'device') throw new FlotillaError('bad-record', 'a device announcement written by a host');
  }

  /** Pulls everything new, then (admin devices) keeps the keyrings in step. Concurrent calls share one run. */
  async sync(): Promise<void> {
    this.syncing ??= this.pull()
      .then(() => this.maintain())
      .finally(() => {
        this.syncing = undefined;
      });
    return this.syncing;
  }

  private async pull(): Promise<void> {
    const o = this.options;
    const since = await storeSync(
      o.signal,
      o.member,
      this.snap.since,
      async (records) => {
        // Keyrings first: a page may hold a document sealed with an epoch its keyring brings.
        const ordered = [...records.filter((r) => r.kind === 'keyring'), ...records.filter((r) => r.kind !== 'keyring')];
        for (const record of ordered) await this.takeOrPend(record);
      },
      o.http,
    );
    this.snap.since = since;
    // A pending record that a newer version of the same rid has overtaken is simply dropped.
    const pending = this.snap.pending.filter((r) => (this.snap.docs[r.rid]?.version ?? 0) < r.version);
    this.snap.pending = [];
    for (const record of pending) await this.takeOrPend(record);
    await o.cache.save(this.snap);
  }

  private async takeOrPend(record: StoredRecord): Promise<void> {
    try {
      if (!(await this.take(record))) this.snap.pending = [...this.snap.pending.filter((p) => p.rid !== record.rid), record].slice(-MAX_PENDING);
    } catch (error) {
      this.refuse(record, error instanceof FlotillaError ? (error.detail ?? error.message) : String(error));
    }
  }

  // ---- views -------------------------------------------------------------------------------

  private all<T extends Payload['type']>(type: T): (OpenedDoc & { payload: Extract<Payload, { type: T }> })[] {
    return Object.values(this.snap.docs).filter((d): d is OpenedDoc & { payload: Extract<Payload, { type: T }> } => d.payload.type === type);
  }

  /** The newest decision per host. */
  hosts(): Map<string, HostDoc & { by: string }> {
    const out = new Map<string, HostDoc & { by: string }>();
    for (const d of this.all('host')) out.set(d.payload.host, { ...d.payload, by: d.signer.name ?? d.signer.id });
    return out;
  }

  tokens(): TokenDoc[] {
    return this.all('token').map((d) => d.payload);
  }

  selectors(): SelectorDoc[] {
    return this.all('selector').map((d) => d.payload);
  }

  /** Devices that announced themselves (id, name, role from their certificates). */
  devices(): { id: string; name: string; role: string; at: number }[] {
    return this.all('device').map((d) => ({ id: d.signer.id, name: d.signer.name ?? '', role: d.signer.role ?? '', at: d.payload.at }));
  }

  tasks(): (TaskDoc & { by: string; deviceId: string })[] {
    return this.all('task').map((d) => ({ ...d.payload, by: d.signer.name ?? '', deviceId: d.signer.id }));
  }

  /**
   * Queued tasks with each host's state: `queued` until its deadline, then `expired`; the
   * result's status once the host ran it; `cancelled`. A tag window lists the hosts that answered.
   */
  queue(now = this.now()): QueueEntry[] {
    const results = new Map<string, ResultDoc>();
    for (const r of this.results()) results.set(`${r.task}:${r.host}`, r);
    const byTask = new Map<string, QueueEntry>();
    for (const t of this.tasks()) {
      const entry = byTask.get(t.task) ?? {
        task: t.task,
        summary: t.summary,
        selector: t.selector,
        deadline: t.deadline,
        window: t.window,
        by: t.by,
        at: t.at,
        hosts: [],
      };
      byTask.set(t.task, entry);
      if (t.host) {
        const result = results.get(`${t.task}:${t.host}`);
        entry.hosts.push({
          host: t.host,
          state: result ? result.status : t.cancelled ? 'cancelled' : t.deadline <= now ? 'expired' : 'queued',
          ...(result ? { result } : {}),
        });
      } else if (t.cancelled) entry.cancelled = true;
    }
    for (const r of results.values()) {
      const entry = byTask.get(r.task);
      if (entry?.window && !entry.hosts.some((h) => h.host === r.host)) entry.hosts.push({ host: r.host, state: r.status, result: r });
    }
    return [...byTask.values()].sort((a, b) => b.at - a.at);
  }

  /**
   * Leaves a task in the store: one record per offline host (sealed to that host and the
   * devices, listed only for that host and the devices, `@devices`), or one tag-window record for every accepted host that
   * matches the selector before the deadline. The store drops them at the deadline.
   */
  async queueTask(task: Omit<TaskDoc, 'type' | 'host' | 'window' | 'cancelled' | 'at'>, target: { hosts: KnownMember[] } | { window: true }): Promise<void> {
    const base: TaskDoc = { type: 'task', ...task, window: 'window' in target, cancelled: false, at: this.now() };
    if ('window' in target) {
      await this.write(base, task.task, { exp: task.deadline });
      return;
    }
    for (const host of target.hosts) {
      await this.write({ ...base, host: host.id }, `${task.task}:${host.id}`, { to: [host.id, DEVICES], direct: [host], exp: task.deadline });
    }
  }

  /** Cancels a queued task on every host that has not run it yet; returns how many records changed. */
  async cancelTask(task: string): Promise<number> {
    let changed = 0;
    for (const d of this.all('task')) {
      if (d.payload.task !== task || d.payload.cancelled) continue;
      const t = d.payload;
      const name = t.host ? `${t.task}:${t.host}` : t.task;
      const host = t.host;
      const direct = host ? [{ id: host, encPub: this.hostKey(host) ?? '' }].filter((h) => h.encPub) : undefined;
      await this.write({ ...t, cancelled: true, at: this.now() }, name, {
        ...(host ? { to: [host, DEVICES] } : {}),
        ...(direct && direct.length > 0 ? { direct } : {}),
        exp: t.deadline,
      });
      changed++;
    }
    return changed;
  }

  private hostKey(id: string): string | undefined {
    return this.hosts().get(id)?.cert?.body.encPub ?? this.options.localHosts?.().find((h) => h.id === id)?.encPub;
  }

  results(): ResultDoc[] {
    return this.all('result').map((d) => d.payload);
  }

  history(): (HistoryDoc & { deviceId: string })[] {
    return this.all('history').map((d) => ({ ...d.payload, deviceId: d.signer.id }));
  }

  refusals(): Refusal[] {
    return this.snap.refused;
  }

  /** Queued-task records this device wrote or read, with their recipients (raw docs, for queue views). */
  docsOf(type: Payload['type']): OpenedDoc[] {
    return this.all(type);
  }

  // ---- writing -----------------------------------------------------------------------------

  private async recipientsFor(scope: Scope): Promise<Recipients> {
    const held = this.rings[scope];
    if (!held) throw new FlotillaError('bad-config', `the fleet has no ${scope} keyring yet: an admin device must sync once (flotilla hosts does)`);
    return { scopes: [await scopeSealKey(held.envelope)] };
  }

  /**
   * Writes a payload under the record id its type and `name` give, with the conflict rule.
   * `direct` seals it for those members only (a task for one host) instead of the type's scope.
   * Returns false when a newer change by another device won.
   */
  async write(payload: Payload, name: string, options: { to?: string[]; direct?: KnownMember[]; exp?: number } = {}): Promise<boolean> {
    const o = this.options;
    const place = PLACEMENT[payload.type];
    const rid = await opaqueRid(place.prefix, o.member.fleetId, name);
    // Direct records (a task for one host) are sealed for the devices too, so any device can list and cancel them.
    const recipients: Recipients = options.direct
      ? { direct: options.direct, ...(this.rings.devices ? { scopes: [await scopeSealKey(this.rings.devices.envelope)] } : {}) }
      : await this.recipientsFor(place.scope);
    for (let attempt = 0; attempt < 3; attempt++) {
      const known = this.snap.docs[rid];
      if (attempt > 0 && known && newer({ at: 'at' in known.payload ? known.payload.at : 0, by: known.signer.id }, { at: payload.at, by: o.member.id }))
        return false;
      const version = (known?.version ?? 0) + 1;
      const { record, envelope } = await sealRecord(o.member, {
        fleet: o.member.fleetId,
        rid,
        kind: place.kind,
        version,
        // Records sealed for the devices are listed to devices only: agents never download them.
        to: options.to ?? (place.scope === 'devices' ? [DEVICES] : [EVERYONE]),
        ...(options.exp === undefined ? {} : { exp: options.exp }),
        payload,
        recipients,
        now: this.now(),
      });
      try {
        await storePut(o.signal, o.member, record, o.http);
      } catch (error) {
        if (error instanceof FlotillaError && error.code === 'conflict') {
          await this.pull();
          continue;
        }
        throw error;
      }
      this.snap.docs[rid] = {
        rid,
        version,
        sig: envelope.sig,
        payload,
        signer: { id: o.member.id, kind: 'device', role: o.member.role, name: o.member.name, encPub: o.member.pub.encPub },
        iat: envelope.iat,
      };
      await o.cache.save(this.snap);
      return true;
    }
    throw new FlotillaError('conflict', `${payload.type} ${name}: other devices kept changing it; try again`);
  }

  // ---- keyrings (admin devices) --------------------------------------------------------------

  /** Members each scope should have now. */
  private wantedMembers(): Record<Scope, Record<string, string>> {
    const m = this.options.member;
    const revoked = new Set(this.options.revocation()?.body.revoked ?? []);
    const devices: Record<string, string> = { [m.id]: m.pub.encPub };
    for (const d of this.all('device')) if (!revoked.has(d.signer.id)) devices[d.signer.id] = d.signer.encPub;
    const fleet: Record<string, string> = { ...devices };
    const decided = this.hosts();
    for (const h of this.options.localHosts?.() ?? []) if (!decided.has(h.id) && !revoked.has(h.id)) fleet[h.id] = h.encPub;
    for (const [id, h] of decided) if (h.decision === 'accepted' && h.cert && !revoked.has(id)) fleet[id] = h.cert.body.encPub;
    return { fleet, devices };
  }

  /** Announces this device (once) and, on an admin device, creates or updates the keyrings. */
  private async maintain(): Promise<void> {
    const o = this.options;
    const m = o.member;
    if (m.role === 'admin') {
      for (const scope of ['devices', 'fleet'] as const) await this.keepKeyring(scope);
    }
    const announceRid = await opaqueRid(PLACEMENT.device.prefix, m.fleetId, m.id);
    if (!this.snap.docs[announceRid] && this.rings.devices) await this.write({ type: 'device', at: this.now() }, m.id);
  }

  private async keepKeyring(scope: Scope): Promise<void> {
    const o = this.options;
    const wanted = this.wantedMembers()[scope];
    const held = this.rings[scope];
    let next: { record: StoredRecord; keyring: Keyring } | undefined;
    if (!held) next = await createKeyring(o.member, o.member.fleetId, scope, wanted);
    else if (held.ring) {
      const removed = Object.keys(held.ring.members).filter((id) => !(id in wanted));
      const added = Object.fromEntries(Object.entries(wanted).filter(([id]) => !(id in held.ring!.members)));
      if (removed.length > 0) next = await rotateKeyring(o.member, o.member.fleetId, { ...held.ring, members: { ...held.ring.members, ...added } }, removed);
      else if (Object.keys(added).length > 0) next = await addMembers(o.member, o.member.fleetId, held.ring, added);
    }
    if (!next) return;
    try {
      await storePut(o.signal, o.member, next.record, o.http);
    } catch (error) {
      if (error instanceof FlotillaError && error.code === 'conflict') return; // another admin got there first; the next sync reads theirs
      throw error;
    }
    await this.takeKeyring(scope, next.record);
    await o.cache.save(this.snap);
  }
}
