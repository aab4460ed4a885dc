// Creating identities: a new fleet (fleet key + the first admin device), more devices, agents.

import { fleetIdOf, exportPublic, generateIdentityKeys, generateSigningKeys, identityId, publicKeysOf, type IdentityKeys, type PublicKeys } from './crypto.ts';
import { issueDeviceCert, type DeviceCert, type Permission, type RevocationList, type Role } from './certs.ts';

/** A peer's keys with their public form and id. */
export interface Identity {
  keys: IdentityKeys;
  pub: PublicKeys;
  id: string;
}

/** An operator device: its identity, certificate, and (for the fleet's creator) the fleet key. */
export interface DeviceIdentity extends Identity {
  fleetId: string;
  fleetPub: string;
  cert: DeviceCert;
  /** Present on devices that hold the fleet key (they can accept hosts and issue certificates). */
  fleetKeys?: CryptoKeyPair;
  revocation?: RevocationList;
}

/** Makes a fresh identity (agent or device). */
export async function createIdentity(extractable: boolean): Promise<Identity> {
  const keys = await generateIdentityKeys(extractable);
  const pub = await publicKeysOf(keys);
  return { keys, pub, id: await identityId(pub) };
}

/**
 * Creates a new fleet and its first device, an admin holding the fleet key. `fleetKeyExtractable`
 * (default: as the device's keys) lets a browser keep its own keys sealed and still back up the fleet key.
 */
export async function createFleet(deviceName: string, extractable: boolean, fleetKeyExtractable = extractable): Promise<DeviceIdentity> {
  const [fleetKeys, device] = await Promise.all([generateSigningKeys(fleetKeyExtractable), createIdentity(extractable)]);
  const fleetPub = await exportPublic(fleetKeys.publicKey);
  const fleetId = await fleetIdOf(fleetPub);
  const cert = await issueDeviceCert(fleetKeys.privateKey, fleetId, device.pub, deviceName, 'admin');
  return { ...device, fleetId, fleetPub, cert, fleetKeys };
}

/** Issues a certificate for another device of the fleet (needs the fleet key). */
export async function addDevice(
  admin: DeviceIdentity,
  name: string,
  role: Role,
  options: { ttlMs?: number; now?: number; extractable?: boolean; deny?: Permission[] } = {},
): Promise<DeviceIdentity> {
  if (!admin.fleetKeys) throw new Error('this device does not hold the fleet key');
  const device = await createIdentity(options.extractable ?? true);
  const cert = await issueDeviceCert(admin.fleetKeys.privateKey, admin.fleetId, device.pub, name, role, options);
  return { ...device, fleetId: admin.fleetId, fleetPub: admin.fleetPub, cert };
}
