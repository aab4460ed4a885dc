// Scope keyrings: the epoch keys that let every member of a scope open records sealed for it.
// A scope (`fleet`: accepted hosts and devices; `devices`: devices only) has an RSA-OAEP key
// pair per epoch. Its keyring is one store record (rid `keyring.<scope>`, to everyone), written
// by an admin device: the header publishes the current public key (anyone may seal for it), and
// the payload, wrapped for each member's own key, holds the current and older private keys.
// Adding a member re-wraps the same content key (new version, same epoch); removing one rotates
// to a new epoch whose key the removed member never sees.

import { FlotillaError } from '../wire/errors.ts';
import { fromBase64, toBase64 } from '../wire/encoding.ts';
import { exportPublic, importWrapKey, subtle } from '../identity/crypto.ts';
import { int, obj, oneOf, str } from '../wire/validate.ts';
import { EVERYONE, SCOPES, openPayload, sealRecord, type Envelope, type ReaderKeys, type Scope, type StoredRecord, type Writer } from './envelope.ts';

/** Older epochs kept in a keyring, so members can still open records sealed before a rotation. */
export const MAX_EPOCHS = 16;

export interface EpochKey {
  epoch: number;
  pub: string;
  /** PKCS#8, base64. */
  priv: string;
}

/** An opened keyring. */
export interface Keyring {
  scope: Scope;
  version: number;
  epoch: number;
  /** Member id → RSA-OAEP public key. */
  members: Record<string, string>;
  /** Newest first. */
  keys: EpochKey[];
  contentKey: Uint8Array;
}

/** The payload inside a keyring record. */
interface KeyringPayload {
  type: 'keyring';
  scope: Scope;
  members: Record<string, string>;
  keys: EpochKey[];
}

export const keyringRid = (scope: Scope): string => `keyring.${scope}`;

const OAEP: RsaHashedKeyGenParams = { name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };

async function newEpochKey(epoch: number): Promise<EpochKey> {
  const pair = (await subtle().generateKey(OAEP, true, ['encrypt', 'decrypt'])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await subtle().exportKey('pkcs8', pair.privateKey));
  return { epoch, pub: await exportPublic(pair.publicKey), priv: toBase64(pkcs8) };
}

/** Imports an epoch's private key for opening records. */
export async function importEpochPrivate(key: EpochKey): Promise<CryptoKey> {
  const bytes = fromBase64(key.priv);
  if (!bytes) throw new FlotillaError('bad-record', 'an epoch key is not base64');
  try {
    return await subtle().importKey('pkcs8', new Uint8Array(bytes), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
  } catch {
    throw new FlotillaError('bad-record', `epoch ${key.epoch} key does not import`);
  }
}

function parsePayload(raw: unknown, scope: Scope): KeyringPayload {
  const o = obj(raw, 'keyring');
  if (o['type'] !== 'keyring' || oneOf(o, 'scope', SCOPES) !== scope) throw new FlotillaError('bad-record', 'not a keyring of this scope');
  const members = obj(o['members'], 'members');
  const out: Record<string, string> = {};
  for (const [id, pub] of Object.entries(members)) {
    if (!/^[a-z2-7]{52}$/.test(id) || typeof pub !== 'string' || pub.length > 1200) throw new FlotillaError('bad-record', 'a keyring member is malformed');
    out[id] = pub;
  }
  const keys = o['keys'];
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_EPOCHS) throw new FlotillaError('bad-record', 'keyring keys malformed');
  return {
    type: 'keyring',
    scope,
    members: out,
    keys: keys.map((k: unknown) => {
      const x = obj(k, 'epoch key');
      return { epoch: int(x, 'epoch', 1), pub: str(x, 'pub', 1200, 1), priv: str(x, 'priv', 4096, 1) };
    }),
  };
}

/** Opens a verified keyring envelope for a member; undefined when the reader is not a member. */
export async function openKeyring(envelope: Envelope, reader: ReaderKeys): Promise<Keyring | undefined> {
  const scope = envelope.pub?.scope;
  if (envelope.kind !== 'keyring' || !scope || envelope.rid !== keyringRid(scope)) throw new FlotillaError('bad-record', 'not a keyring record');
  const opened = await openPayload(envelope, { id: reader.id, encPriv: reader.encPriv });
  if (!opened) return undefined;
  const payload = parsePayload(opened.payload, scope);
  const current = payload.keys[0];
  if (!current || current.epoch !== envelope.pub?.epoch || current.pub !== envelope.pub.key)
    throw new FlotillaError('bad-record', 'the keyring header and payload disagree');
  return { scope, version: envelope.version, epoch: current.epoch, members: payload.members, keys: payload.keys, contentKey: opened.contentKey };
}

async function writeKeyring(
  writer: Writer,
  fleet: string,
  scope: Scope,
  version: number,
  payload: KeyringPayload,
  contentKey?: Uint8Array,
): Promise<{ record: StoredRecord; keyring: Keyring }> {
  const current = payload.keys[0];
  if (!current) throw new FlotillaError('internal', 'keyring without keys');
  const direct = Object.entries(payload.members).map(([id, encPub]) => ({ id, encPub }));
  const sealed = await sealRecord(writer, {
    fleet,
    rid: keyringRid(scope),
    kind: 'keyring',
    version,
    to: [EVERYONE],
    payload,
    recipients: { direct },
    pub: { scope, epoch: current.epoch, key: current.pub },
    ...(contentKey ? { contentKey } : {}),
  });
  return {
    record: sealed.record,
    keyring: { scope, version, epoch: current.epoch, members: payload.members, keys: payload.keys, contentKey: sealed.contentKey },
  };
}

/** The first keyring of a scope (epoch 1). */
export async function createKeyring(
  writer: Writer,
  fleet: string,
  scope: Scope,
  members: Record<string, string>,
): Promise<{ record: StoredRecord; keyring: Keyring }> {
  return writeKeyring(writer, fleet, scope, 1, { type: 'keyring', scope, members, keys: [await newEpochKey(1)] });
}

/** Adds members without a new epoch: the same content key wrapped for them too. */
export async function addMembers(
  writer: Writer,
  fleet: string,
  ring: Keyring,
  added: Record<string, string>,
): Promise<{ record: StoredRecord; keyring: Keyring }> {
  const members = { ...ring.members, ...added };
  return writeKeyring(writer, fleet, ring.scope, ring.version + 1, { type: 'keyring', scope: ring.scope, members, keys: ring.keys }, ring.contentKey);
}

/** Removes members: a new epoch and a new content key, wrapped only for those who stay. */
export async function rotateKeyring(
  writer: Writer,
  fleet: string,
  ring: Keyring,
  removed: readonly string[],
): Promise<{ record: StoredRecord; keyring: Keyring }> {
  const members = Object.fromEntries(Object.entries(ring.members).filter(([id]) => !removed.includes(id)));
  const keys = [await newEpochKey(ring.epoch + 1), ...ring.keys].slice(0, MAX_EPOCHS);
  return writeKeyring(writer, fleet, ring.scope, ring.version + 1, { type: 'keyring', scope: ring.scope, members, keys });
}

/** Private keys of every epoch a keyring holds, for ReaderKeys.scopeKey. */
export async function epochKeys(ring: Keyring): Promise<Map<number, CryptoKey>> {
  const out = new Map<number, CryptoKey>();
  for (const key of ring.keys) out.set(key.epoch, await importEpochPrivate(key));
  return out;
}

/** The public key to seal for a scope's current epoch, from a verified keyring header (members or not). */
export async function scopeSealKey(envelope: Envelope): Promise<{ scope: Scope; epoch: number; key: CryptoKey }> {
  if (envelope.kind !== 'keyring' || !envelope.pub) throw new FlotillaError('bad-record', 'not a keyring record');
  return { scope: envelope.pub.scope, epoch: envelope.pub.epoch, key: await importWrapKey(envelope.pub.key) };
}
