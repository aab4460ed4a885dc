// Fleet-signed documents: device certificates, host certificates and revocation lists.
// Each is a canonical-JSON body plus an RSA-PSS signature by the fleet key.

import { FlotillaError } from '../wire/errors.ts';
import { canonicalJson } from '../wire/encoding.ts';
import { fleetIdOf, identityId, importVerifyKey, signText, verifyText, type PublicKeys } from './crypto.ts';
import { int, obj, oneOf, optInt, str, strArray, type Obj } from '../wire/validate.ts';

/** What a device may do; agents enforce it. */
export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];
/** What a device certificate may take away from its role (`deny`): `shell`, the terminal. */
export type Permission = 'shell';
export const PERMISSIONS: readonly Permission[] = ['shell'];

/** A body and the fleet's signature over its canonical JSON. */
export interface Signed<T> {
  body: T;
  sig: string;
}

/** A device certificate body. */
export interface DeviceCertBody extends PublicKeys {
  v: 1;
  kind: 'device';
  fleet: string;
  id: string;
  name: string;
  role: Role;
  iat: number;
  exp?: number;
  /** Permissions this device lacks although its role has them (absent: none). */
  deny?: Permission[];
}

/** A host certificate body: the fleet accepted this agent's keys. */
export interface HostCertBody extends PublicKeys {
  v: 1;
  kind: 'host';
  fleet: string;
  id: string;
  iat: number;
  by: string;
}

/** A revocation list body. Agents keep the highest version they have seen. */
export interface RevocationBody {
  v: 1;
  kind: 'revocation';
  fleet: string;
  version: number;
  revoked: string[];
  iat: number;
}

export type DeviceCert = Signed<DeviceCertBody>;
export type HostCert = Signed<HostCertBody>;
export type RevocationList = Signed<RevocationBody>;

const ID_LENGTH = 52;
const KEY_MAX = 1200;

/** Signs a body with the fleet key. */
export async function signDocument<T extends object>(fleetKey: CryptoKey, body: T): Promise<Signed<T>> {
  return { body, sig: await signText(fleetKey, canonicalJson(body)) };
}

/** Checks the fleet signature on a document whose body names `fleet`. */
async function checkFleetSignature(doc: Signed<{ fleet: string }>, fleetPub: string, fleetId: string): Promise<void> {
  if (doc.body.fleet !== fleetId || (await fleetIdOf(fleetPub)) !== fleetId) {
    throw new FlotillaError('not-in-fleet', `document is for fleet ${doc.body.fleet.slice(0, 8)}`);
  }
  const ok = await verifyText(await importVerifyKey(fleetPub), doc.sig, canonicalJson(doc.body));
  if (!ok) throw new FlotillaError('not-in-fleet', 'the fleet signature does not verify');
}

function signedShape(raw: unknown, what: string): { body: Obj; sig: string } {
  const o = obj(raw, what);
  return { body: obj(o['body'], `${what}.body`), sig: str(o, 'sig', 1024, 1) };
}

function keysOf(b: Obj): PublicKeys {
  return { signPub: str(b, 'signPub', KEY_MAX, 1), encPub: str(b, 'encPub', KEY_MAX, 1) };
}

/** A certificate's `deny`: a non-empty list of known permissions, each once. */
function parseDeny(b: Obj): Permission[] {
  const list = strArray(b, 'deny', PERMISSIONS.length, 32);
  if (list.length === 0) throw new FlotillaError('bad-message', 'deny: an empty list (leave it out instead)');
  for (const item of list)
    if (!(PERMISSIONS as readonly string[]).includes(item)) throw new FlotillaError('bad-message', `deny: unknown permission ${JSON.stringify(item)}`);
  if (new Set(list).size !== list.length) throw new FlotillaError('bad-message', 'deny: a permission listed twice');
  return list as Permission[];
}

/** True when the device's certificate takes `permission` away. */
export function denies(cert: Pick<DeviceCertBody, 'deny'>, permission: Permission): boolean {
  return cert.deny?.includes(permission) === true;
}

/** Validates the shape of a device certificate (not its signature). */
export function parseDeviceCert(raw: unknown): DeviceCert {
  const { body: b, sig } = signedShape(raw, 'certificate');
  if (b['v'] !== 1 || b['kind'] !== 'device') throw new FlotillaError('bad-message', 'not a version 1 device certificate');
  const exp = optInt(b, 'exp');
  const body: DeviceCertBody = {
    v: 1,
    kind: 'device',
    fleet: str(b, 'fleet', ID_LENGTH, ID_LENGTH),
    id: str(b, 'id', ID_LENGTH, ID_LENGTH),
    ...keysOf(b),
    name: str(b, 'name', 128),
    role: oneOf(b, 'role', ROLES),
    iat: int(b, 'iat'),
    ...(exp === undefined ? {} : { exp }),
    ...(b['deny'] === undefined ? {} : { deny: parseDeny(b) }),
  };
  return { body, sig };
}

/** Validates the shape of a host certificate. */
export function parseHostCert(raw: unknown): HostCert {
  const { body: b, sig } = signedShape(raw, 'host certificate');
  if (b['v'] !== 1 || b['kind'] !== 'host') throw new FlotillaError('bad-message', 'not a version 1 host certificate');
  return {
    body: {
      v: 1,
      kind: 'host',
      fleet: str(b, 'fleet', ID_LENGTH, ID_LENGTH),
      id: str(b, 'id', ID_LENGTH, ID_LENGTH),
      ...keysOf(b),
      iat: int(b, 'iat'),
      by: str(b, 'by', ID_LENGTH, ID_LENGTH),
    },
    sig,
  };
}

/** Validates the shape of a revocation list. */
export function parseRevocationList(raw: unknown): RevocationList {
  const { body: b, sig } = signedShape(raw, 'revocation list');
  if (b['v'] !== 1 || b['kind'] !== 'revocation') throw new FlotillaError('bad-message', 'not a version 1 revocation list');
  return {
    body: {
      v: 1,
      kind: 'revocation',
      fleet: str(b, 'fleet', ID_LENGTH, ID_LENGTH),
      version: int(b, 'version', 0),
      revoked: strArray(b, 'revoked', 10_000, ID_LENGTH),
      iat: int(b, 'iat'),
    },
    sig,
  };
}

/** Issues a device certificate signed by the fleet key. */
export async function issueDeviceCert(
  fleetKey: CryptoKey,
  fleetId: string,
  keys: PublicKeys,
  name: string,
  role: Role,
  options: { now?: number; ttlMs?: number; deny?: Permission[] } = {},
): Promise<DeviceCert> {
  const iat = options.now ?? Date.now();
  const body: DeviceCertBody = {
    v: 1,
    kind: 'device',
    fleet: fleetId,
    id: await identityId(keys),
    signPub: keys.signPub,
    encPub: keys.encPub,
    name,
    role,
    iat,
    ...(options.ttlMs === undefined ? {} : { exp: iat + options.ttlMs }),
    ...(options.deny?.length ? { deny: [...new Set(options.deny)] } : {}),
  };
  return signDocument(fleetKey, body);
}

/** Issues a host certificate: the fleet accepts an agent's keys. */
export async function issueHostCert(fleetKey: CryptoKey, fleetId: string, keys: PublicKeys, by: string): Promise<HostCert> {
  const body: HostCertBody = {
    v: 1,
    kind: 'host',
    fleet: fleetId,
    id: await identityId(keys),
    signPub: keys.signPub,
    encPub: keys.encPub,
    iat: Date.now(),
    by,
  };
  return signDocument(fleetKey, body);
}

/** Issues revocation list `version` revoking `revoked` device ids. */
export async function issueRevocationList(fleetKey: CryptoKey, fleetId: string, version: number, revoked: string[]): Promise<RevocationList> {
  return signDocument(fleetKey, { v: 1, kind: 'revocation', fleet: fleetId, version, revoked, iat: Date.now() } satisfies RevocationBody);
}

/** Verifies a device certificate against the fleet and optional revocation list; returns its body. */
export async function verifyDeviceCert(
  raw: unknown,
  fleetPub: string,
  fleetId: string,
  options: { now?: number; revocation?: RevocationList | undefined; presented?: PublicKeys } = {},
): Promise<DeviceCertBody> {
  const cert = parseDeviceCert(raw);
  await checkFleetSignature(cert, fleetPub, fleetId);
  if ((await identityId(cert.body)) !== cert.body.id) throw new FlotillaError('not-in-fleet', 'certificate id does not match its keys');
  if (options.presented && (options.presented.signPub !== cert.body.signPub || options.presented.encPub !== cert.body.encPub)) {
    throw new FlotillaError('not-in-fleet', 'the certificate belongs to other keys');
  }
  const now = options.now ?? Date.now();
  if (cert.body.exp !== undefined && cert.body.exp <= now) {
    throw new FlotillaError('cert-expired', `expired ${new Date(cert.body.exp).toISOString()}`);
  }
  if (options.revocation?.body.revoked.includes(cert.body.id)) {
    throw new FlotillaError('cert-revoked', `revocation list version ${options.revocation.body.version}`);
  }
  return cert.body;
}

/** Verifies a host certificate for `presented` keys. */
export async function verifyHostCert(raw: unknown, fleetPub: string, fleetId: string, presented: PublicKeys): Promise<HostCertBody> {
  const cert = parseHostCert(raw);
  await checkFleetSignature(cert, fleetPub, fleetId);
  if (cert.body.signPub !== presented.signPub || cert.body.encPub !== presented.encPub) {
    throw new FlotillaError('key-mismatch', 'host certificate is for other keys');
  }
  return cert.body;
}

/** Verifies a revocation list's fleet signature. */
export async function verifyRevocationList(raw: unknown, fleetPub: string, fleetId: string): Promise<RevocationList> {
  const list = parseRevocationList(raw);
  await checkFleetSignature(list, fleetPub, fleetId);
  return list;
}
