// One fleet state for the CLI: the device side of the sealed store (shared/store/fleet-sync.ts)
// with its cache in the home ($FLOTILLA_HOME/fleet-state.json, 0600, written atomically). The
// home's hosts.json, tokens.json and selectors.json stay the local cache the commands read:
// decisions, tokens and selectors made on other devices are folded into them after a sync.
//
// A sync is bounded: every store call has a 10 s timeout (signal-api.ts) and the whole sync
// SYNC_BOUND_MS. When the store cannot be reached, the command goes on from the cache and says
// so in one line on stderr.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { FleetSync, deviceMember, type KnownMember, type SyncSnapshot } from '../../shared/store/fleet-sync.ts';
import type { HttpFetch } from '../../shared/controller/signal-api.ts';
import type { HostRecord, TokenRecord } from '../../shared/controller/hosts.ts';
import type { HostDecision, HostDoc, Payload, TokenDoc } from '../../shared/store/documents.ts';
import { parseJoinToken } from '../../shared/identity/tokens.ts';
import { issueHostCert } from '../../shared/identity/certs.ts';
import { readJson, writeJsonAtomic } from '../../node/files.ts';
import type { Home } from './home.ts';
import { stateFile } from './fleet-selectors.ts';

/** The longest one sync may take before the command goes on from the cache. */
export const SYNC_BOUND_MS = 30_000;

export { stateFile };

/** A home's FleetSync, and whether its last sync reached the store. */
export interface FleetState {
  sync: FleetSync;
  home: Home;
  /** The store answered the last sync (false: the views are the cache). */
  live: boolean;
  /** The cache held the devices keyring when loaded (a device can then seal for the devices without reading the store). */
  cachedDevicesKeyring: boolean;
}

/** The accepted hosts of hosts.json, as keyring members (hosts accepted before the store existed). */
function acceptedMembers(records: readonly HostRecord[]): KnownMember[] {
  return records.filter((r) => r.status === 'accepted' && r.encPub).map((r) => ({ id: r.id, encPub: r.encPub }));
}

/** Loads the home's fleet state from its cache (no network). */
export async function loadFleetState(home: Home, options: { http?: HttpFetch; now?: () => number } = {}): Promise<FleetState> {
  const path = stateFile(home.dir);
  let local = acceptedMembers(await home.hosts.all());
  let cachedDevicesKeyring = false;
  const d = home.device;
  const sync = new FleetSync({
    signal: home.signal,
    member: deviceMember(d),
    cache: {
      // A damaged cache is rebuilt from the store: it holds nothing the store does not.
      load: async () => {
        const raw = await readJson(path, 'the fleet state cache').catch(() => undefined);
        cachedDevicesKeyring = !!(raw as Partial<SyncSnapshot> | undefined)?.keyrings?.devices;
        return raw;
      },
      save: (snapshot: SyncSnapshot) => writeJsonAtomic(path, snapshot, 0o600),
    },
    revocation: () => home.device.revocation,
    localHosts: () => local,
    ...(options.http ? { http: options.http } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  await sync.load();
  const state: FleetState = { sync, home, live: false, cachedDevicesKeyring };
  // Refreshed before each sync: an accept in this invocation adds the host to the keyrings.
  const refresh = async () => void (local = acceptedMembers(await home.hosts.all()));
  const original = sync.sync.bind(sync);
  sync.sync = async () => {
    await refresh();
    return original();
  };
  return state;
}

/** Why the store could not be used, as the end of a sentence. */
export function storeProblem(error: unknown): string {
  if (error instanceof FlotillaError) return error.detail ?? error.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Pulls what is new (bounded), then folds documents from other devices into the home's lists.
 * On failure prints one line on stderr (unless `quiet`) and returns false: the caller goes on
 * from the cache.
 */
export async function syncFleetState(state: FleetState, err: (line: string) => void, quiet = false): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FlotillaError('timeout', `no answer within ${SYNC_BOUND_MS / 1000}s`)), SYNC_BOUND_MS);
    timer.unref?.();
  });
  try {
    await Promise.race([state.sync.sync(), bound]);
    state.live = true;
  } catch (error) {
    state.live = false;
    if (!quiet)
      err(`fleet state: not synced with the store at ${state.home.signal} (${storeProblem(error)}); going on from the cache in ${stateFile(state.home.dir)}`);
  } finally {
    clearTimeout(timer);
  }
  await applyToHome(state);
  return state.live;
}

/** Opens the fleet state and syncs it (bounded); see syncFleetState. */
export async function openFleetState(home: Home, err: (line: string) => void, options: { quiet?: boolean; http?: HttpFetch } = {}): Promise<FleetState> {
  const state = await loadFleetState(home, options.http ? { http: options.http } : {});
  await syncFleetState(state, err, options.quiet);
  return state;
}

/**
 * Writes a document (conflict rule in FleetSync.write). Returns 'written', 'lost' (a newer
 * change by another device stands) or 'failed' (said on stderr: the local change stays).
 */
export async function writeDocument(state: FleetState, payload: Payload, name: string, err: (line: string) => void): Promise<'written' | 'lost' | 'failed'> {
  try {
    const written = await state.sync.write(payload, name);
    if (!written) err(`fleet state: another device changed this ${payload.type} more recently; its change stands (see flotilla ${payload.type}s)`);
    return written ? 'written' : 'lost';
  } catch (error) {
    err(`fleet state: this ${payload.type} change was kept on this device only: ${storeProblem(error)}`);
    return 'failed';
  }
}

/** A join token document as the home's tokens.json keeps it (undefined when the token text does not decode). */
export function tokenRecordOf(doc: TokenDoc): TokenRecord | undefined {
  let secret: string;
  try {
    secret = parseJoinToken(doc.token, 0).secret;
  } catch {
    return undefined;
  }
  return { tid: doc.tid, secret, exp: doc.exp, createdAt: doc.at, revoked: doc.revoked, usedBy: doc.used, maxUses: doc.uses };
}

/**
 * Folds the documents into the home's lists: a host rejected or accepted on another device
 * takes that status here, a removed host is forgotten; tokens made on other devices are added
 * (so this device can also enroll a host holding one), revocations and uses merged.
 */
export async function applyToHome(state: FleetState): Promise<void> {
  const { home, sync } = state;
  const records = new Map((await home.hosts.all()).map((r) => [r.id, r]));
  const now = Date.now();
  for (const [id, doc] of sync.hosts()) {
    const known = records.get(id);
    if (doc.decision === 'removed') {
      if (known) await home.hosts.remove(id);
      continue;
    }
    if (doc.decision === 'rejected' && known?.status !== 'rejected') {
      await home.hosts.put(
        known ? { ...known, status: 'rejected' } : { id, status: 'rejected', signPub: '', encPub: '', facts: undefined, firstSeen: doc.at, lastSeen: doc.at },
      );
    }
    if (doc.decision === 'accepted' && doc.cert && known?.status !== 'accepted') {
      const { signPub, encPub } = doc.cert.body;
      await home.hosts.put(
        known
          ? { ...known, status: 'accepted', signPub, encPub }
          : { id, status: 'accepted', signPub, encPub, facts: undefined, firstSeen: doc.at, lastSeen: Math.min(doc.at, now) },
      );
    }
  }
  for (const doc of sync.tokens()) {
    const fromDoc = tokenRecordOf(doc);
    if (!fromDoc) continue;
    const known = await home.tokens.get(doc.tid);
    if (!known) {
      await home.tokens.put(fromDoc);
      continue;
    }
    const usedBy = [...new Set([...known.usedBy, ...doc.used])];
    const revoked = known.revoked || doc.revoked;
    if (usedBy.length !== known.usedBy.length || revoked !== known.revoked) await home.tokens.put({ ...known, usedBy, revoked });
  }
}

/** The host decision document for `id` as this home knows the host (accepted: with a host certificate for its keys). */
export async function decisionDoc(home: Home, id: string, decision: HostDecision): Promise<HostDoc> {
  const record = await home.hosts.get(id);
  const name = record?.facts?.hostname;
  const keys = record?.signPub && record.encPub ? { signPub: record.signPub, encPub: record.encPub } : undefined;
  const fleetKey = home.device.fleetKeys?.privateKey;
  const cert = decision === 'accepted' && keys && fleetKey ? await issueHostCert(fleetKey, home.device.fleetId, keys, home.device.id) : undefined;
  return { type: 'host', host: id, decision, ...(cert ? { cert } : {}), ...(name ? { name } : {}), at: Date.now() };
}

/** Writes the uses of join tokens this device saw (hosts it enrolled with them) into their documents, for the other devices. */
export async function publishTokenUses(state: FleetState, err: (line: string) => void): Promise<void> {
  for (const doc of state.sync.tokens()) {
    const local = await state.home.tokens.get(doc.tid);
    const used = [...new Set([...doc.used, ...(local?.usedBy ?? [])])];
    if (used.length === doc.used.length) continue;
    if ((await writeDocument(state, { ...doc, used, at: Date.now() }, doc.tid, err)) === 'failed') return;
  }
}
