// The fleet's devices as this browser can know them (there is no device registry: the hosts'
// audit logs say who connected), and revoking one: a new fleet-signed revocation list, kept
// here, published to the signaling server and carried to every online host by a fresh handshake.

import { FlotillaError } from '../../../../shared/wire/errors.ts';
import { callOk } from '../../../../shared/controller/agent-connection.ts';
import * as capabilities from '../../../../capabilities/registry.ts';
import { issueRevocationList, verifyRevocationList, type RevocationList } from '../../../../shared/identity/certs.ts';
import { fetchRevocation, publishRevocation } from '../../../../shared/controller/signal-api.ts';
import { isObj, optStr, str } from '../../../../shared/wire/validate.ts';
import { saveRevocation } from '../db/stores.ts';
import type { FleetState } from './fleet.svelte.ts';

/** A device some host has seen, or this one. */
export interface KnownDevice {
  id: string;
  name: string | undefined;
  role: string | undefined;
  /** Last accepted connection to any host that was asked. */
  lastSeen: number | undefined;
  /** Hosts whose audit log has it. */
  hosts: number;
  revoked: boolean;
  self: boolean;
}

const DEVICE_ID = /^[a-z2-7]{52}$/;

/** Accepted handshakes from an `audit` result's records; anything malformed is skipped. */
export function devicesFromAudit(data: unknown): { id: string; name: string | undefined; role: string | undefined; at: number }[] {
  const records = isObj(data) ? data['records'] : undefined;
  if (!Array.isArray(records)) return [];
  return records.flatMap((raw) => {
    if (!isObj(raw) || raw['request'] !== 'handshake' || raw['outcome'] !== 'accepted') return [];
    try {
      const id = str(raw, 'device', 52, 52);
      const at = Date.parse(str(raw, 'ts', 64));
      if (!DEVICE_ID.test(id) || Number.isNaN(at)) return [];
      return [{ id, name: optStr(raw, 'deviceName', 128), role: optStr(raw, 'role', 16), at }];
    } catch {
      return [];
    }
  });
}

/** Asks every online, accepted host for its audit log and gathers the devices in it. */
export async function lookupDevices(fleet: FleetState): Promise<KnownDevice[]> {
  const revoked = new Set(fleet.device.revocation?.body.revoked ?? []);
  const byId = new Map<string, KnownDevice>();
  const self = fleet.device;
  byId.set(self.id, { id: self.id, name: self.cert.body.name, role: self.cert.body.role, lastSeen: Date.now(), hosts: 0, revoked: false, self: true });
  const hosts = fleet.hosts.filter((h) => h.status === 'accepted' && fleet.presence.get(h.id)?.online).map((h) => h.id);
  await fleet.controller.fanOut(hosts, async (hostId) => {
    const connection = await fleet.controller.connect(hostId);
    const seen = new Set<string>();
    for (const entry of devicesFromAudit(await callOk(connection, capabilities.audit, { limit: 2000 }))) {
      const known = byId.get(entry.id) ?? {
        id: entry.id,
        name: entry.name,
        role: entry.role,
        lastSeen: entry.at,
        hosts: 0,
        revoked: revoked.has(entry.id),
        self: false,
      };
      if (!seen.has(entry.id)) known.hosts++;
      seen.add(entry.id);
      if (!known.self && entry.at >= (known.lastSeen ?? 0))
        Object.assign(known, { lastSeen: entry.at, name: entry.name ?? known.name, role: entry.role ?? known.role });
      byId.set(entry.id, known);
    }
  });
  for (const id of revoked)
    if (!byId.has(id)) byId.set(id, { id, name: undefined, role: undefined, lastSeen: undefined, hosts: 0, revoked: true, self: false });
  return [...byId.values()].sort((a, b) => Number(b.self) - Number(a.self) || Number(a.revoked) - Number(b.revoked) || (b.lastSeen ?? 0) - (a.lastSeen ?? 0));
}

/** The newest valid list: this browser's or the signaling server's (another admin may have revoked too). */
export async function newestList(fleet: FleetState): Promise<RevocationList | undefined> {
  const local = fleet.device.revocation;
  let remote: RevocationList | undefined;
  try {
    const raw = await fetchRevocation(fleet.stored.signal, fleet.device.fleetId);
    if (raw) remote = await verifyRevocationList(raw, fleet.device.fleetPub, fleet.device.fleetId);
  } catch (error) {
    console.warn('[flotilla] the signaling server has no usable revocation list', error);
  }
  if (!remote) return local;
  return !local || remote.body.version > local.body.version ? remote : local;
}

/**
 * Revokes a device: signs the next revocation list, stores it, publishes it, and reconnects to
 * the online hosts so each receives it in the handshake. Returns how many hosts have it now.
 */
export async function revokeDevice(fleet: FleetState, id: string): Promise<{ list: RevocationList; delivered: number; hosts: number }> {
  const device = fleet.device;
  if (!device.fleetKeys) throw new FlotillaError('forbidden', 'only a device holding the fleet key can revoke devices');
  if (!DEVICE_ID.test(id)) throw new FlotillaError('bad-config', 'a device id is 52 characters of a-z and 2-7');
  if (id === device.id) throw new FlotillaError('bad-config', 'this device cannot revoke itself');
  const current = await newestList(fleet);
  const list = await issueRevocationList(device.fleetKeys.privateKey, device.fleetId, (current?.body.version ?? 0) + 1, [
    ...new Set([...(current?.body.revoked ?? []), id]),
  ]);
  // The controller reads the device's list at every handshake: from here on, it carries this one.
  device.revocation = list;
  await saveRevocation(fleet.db, fleet.stored, list);
  await publishRevocation(fleet.stored.signal, device.fleetPub, list);
  const online = fleet.hosts.filter((h) => h.status === 'accepted' && fleet.presence.get(h.id)?.online).map((h) => h.id);
  fleet.controller.close();
  const settled = await fleet.controller.fanOut(online, (hostId) => fleet.connectNow(hostId));
  return { list, delivered: settled.filter((s) => s.ok).length, hosts: online.length };
}
