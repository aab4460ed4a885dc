// One fleet state: the store's host decisions and join tokens applied to this browser's records,
// and this browser's decisions (accept with the host certificate, reject, remove) and tokens
// written as documents for the other devices and the CLI.

import { FlotillaError } from '../../../../shared/wire/errors.ts';
import { issueHostCert, issueRevocationList } from '../../../../shared/identity/certs.ts';
import { publishRevocation } from '../../../../shared/controller/signal-api.ts';
import type { HostRecord, TokenRecord } from '../../../../shared/controller/hosts.ts';
import type { HostDoc } from '../../../../shared/store/documents.ts';
import { saveRevocation } from '../db/stores.ts';
import { newestList } from './devices.ts';
import { hostFromDoc, tokenDiffers, tokenFromDoc, tokenToDoc } from './store-mapping.ts';
import type { FleetState } from './fleet.svelte.ts';

/** Documents are written by operators and admins; every other device refuses a viewer's. */
function canWrite(fleet: FleetState): boolean {
  return fleet.device.cert.body.role !== 'viewer';
}

/** A host decision document for `record` (accepted ones carry a host certificate when this device holds the fleet key). */
async function decisionDoc(fleet: FleetState, record: HostRecord, decision: HostDoc['decision']): Promise<HostDoc> {
  const device = fleet.device;
  const cert =
    decision === 'accepted' && device.fleetKeys && record.signPub && record.encPub
      ? await issueHostCert(device.fleetKeys.privateKey, device.fleetId, { signPub: record.signPub, encPub: record.encPub }, device.id)
      : undefined;
  const name = record.facts?.hostname;
  const tags = record.facts?.tags;
  return {
    type: 'host',
    host: record.id,
    decision,
    ...(cert ? { cert } : {}),
    ...(name ? { name } : {}),
    ...(tags && Object.keys(tags).length > 0 ? { tags } : {}),
    ...(record.facts?.region ? { region: record.facts.region } : {}),
    at: Date.now(),
  };
}

/** A decision this browser made (accepted, rejected) goes to the store, unless the store already says so. */
export async function hostDecided(fleet: FleetState, record: HostRecord): Promise<void> {
  if (record.status === 'pending' || !canWrite(fleet)) return;
  if (fleet.store.hostDocs.get(record.id)?.decision === record.status) return;
  try {
    await fleet.store.write(await decisionDoc(fleet, record, record.status), record.id);
  } catch (error) {
    console.warn(`[flotilla] the decision on ${record.id.slice(0, 8)} could not be written to the fleet store`, error);
  }
}

/** A token made, used or revoked here goes to the store. */
export async function tokenChanged(fleet: FleetState, record: TokenRecord): Promise<void> {
  if (!canWrite(fleet)) return;
  const doc = fleet.store.tokenDocs.find((t) => t.tid === record.tid);
  if (!tokenDiffers(doc, record)) return;
  try {
    await fleet.store.write(tokenToDoc(record, fleet.stored.signal, fleet.device.fleetId), record.tid);
  } catch (error) {
    console.warn(`[flotilla] token ${record.tid} could not be written to the fleet store`, error);
  }
}

let applying: Promise<void> = Promise.resolve();

/**
 * Brings this browser's hosts and tokens in step with the store: the store's decision wins
 * (a host rejected on the CLI is rejected here, a removed one goes); tokens other devices made
 * are kept so this browser can accept hosts that join with them. Then writes what only this
 * browser knows (hosts it decided and tokens it made before the store existed, or while it
 * could not be reached). Runs one at a time.
 */
export function applyStoreDocs(fleet: FleetState): Promise<void> {
  applying = applying.catch(() => undefined).then(() => apply(fleet));
  return applying;
}

async function apply(fleet: FleetState): Promise<void> {
  const docs = fleet.store.hostDocs;
  for (const doc of docs.values()) {
    const known = fleet.hosts.find((h) => h.id === doc.host);
    const next = hostFromDoc(doc, known);
    if (!next) {
      if (known) await fleet.forget(doc.host);
    } else if (next !== known) await fleet.putFromStore(next);
  }
  for (const doc of fleet.store.tokenDocs) {
    const known = fleet.tokens.find((t) => t.tid === doc.tid);
    const next = tokenFromDoc(doc, known);
    if (next && (!known || known.revoked !== next.revoked || known.usedBy.length !== next.usedBy.length || known.maxUses !== next.maxUses))
      await fleet.putTokenFromStore(next);
  }
  if (fleet.store.state !== 'ok') return;
  for (const record of fleet.hosts) if (record.status !== 'pending' && !docs.has(record.id)) await hostDecided(fleet, record);
  const now = Date.now();
  for (const record of fleet.tokens) {
    // Tokens that expired before the store knew them are not worth a document.
    if (record.exp > now || fleet.store.tokenDocs.some((t) => t.tid === record.tid)) await tokenChanged(fleet, record);
  }
}

/**
 * Removes a host as `flotilla remove` does: the decision `removed` (the admin devices then rotate
 * the fleet keyring so it cannot read what is written after), its id on the revocation list
 * (published to the signaling server, which then refuses its credential), and it leaves this
 * browser's inventory.
 */
export async function removeHost(fleet: FleetState, id: string): Promise<void> {
  const device = fleet.device;
  if (!device.fleetKeys) throw new FlotillaError('forbidden', 'only a device holding the fleet key can remove hosts');
  const record = fleet.hosts.find((h) => h.id === id) ?? {
    id,
    status: 'rejected' as const,
    signPub: '',
    encPub: '',
    facts: undefined,
    firstSeen: Date.now(),
    lastSeen: Date.now(),
  };
  await fleet.store.write(await decisionDoc(fleet, record, 'removed'), id);
  const current = await newestList(fleet);
  if (!current?.body.revoked.includes(id)) {
    const list = await issueRevocationList(device.fleetKeys.privateKey, device.fleetId, (current?.body.version ?? 0) + 1, [
      ...new Set([...(current?.body.revoked ?? []), id]),
    ]);
    device.revocation = list;
    await saveRevocation(fleet.db, fleet.stored, list);
    await publishRevocation(fleet.stored.signal, device.fleetPub, list);
  }
  await fleet.forget(id);
  await fleet.store.syncNow();
}
