// Passphrase-encrypted fleet backups: the fleet private key sealed with AES-256-GCM under a
// key derived from a passphrase (PBKDF2-SHA256), plus the public facts needed to use it again
// (fleet public key, fleet id, signaling URL), which the seal authenticates but does not hide.
// Text form: `flb1.<base64url(JSON)>`. Web Crypto only: runs in browsers and in Node.

import { FlotillaError } from '../wire/errors.ts';
import { canonicalJson, fromBase64, fromUtf8, toBase64, toBase64Url, utf8 } from '../wire/encoding.ts';
import { exportPublic, exportSigningKeys, fleetIdOf, importSigningKeys, randomBytes, sign, subtle, verify } from './crypto.ts';
import { createIdentity, type DeviceIdentity } from './fleet.ts';
import { issueDeviceCert } from './certs.ts';
import { int, isObj, obj, oneOf, parseJson, str, type Obj } from '../wire/validate.ts';

export const BACKUP_PREFIX = 'flb1.';
/** OWASP's 2023 floor for PBKDF2-HMAC-SHA256. */
export const BACKUP_ITERATIONS = 310_000;
/** Refused above this: a crafted backup must not make the importer spin for minutes. */
const MAX_ITERATIONS = 5_000_000;
export const MIN_PASSPHRASE = 8;
const MAX_TEXT = 16_384;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const ID_LENGTH = 52;
export const WRONG_PASSPHRASE = 'the passphrase is wrong or the backup is damaged';

/** What a backup restores. */
export interface ImportedFleet {
  fleetKeys: CryptoKeyPair;
  fleetPub: string;
  fleetId: string;
  signal: string;
}

interface KdfParams {
  name: 'PBKDF2';
  hash: 'SHA-256';
  iterations: number;
}

/** The fields the seal authenticates besides the ciphertext. */
function associatedData(kdf: KdfParams, salt: string, fleetPub: string, fleet: string, signal: string): Uint8Array {
  return utf8(canonicalJson({ v: 1, kdf, salt, fleetPub, fleet, signal }));
}

async function deriveKey(passphrase: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const base = await subtle().importKey('raw', new Uint8Array(utf8(passphrase)), 'PBKDF2', false, ['deriveKey']);
  return subtle().deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt: new Uint8Array(salt), iterations }, base, { name: 'AES-GCM', length: 256 }, false, [
    'encrypt',
    'decrypt',
  ]);
}

function bad(detail: string): FlotillaError {
  return new FlotillaError('bad-backup', detail);
}

function checkSignal(signal: string): void {
  if (!/^https?:\/\/[^\s]+$/.test(signal) || signal.length > 512) throw bad('the signaling URL must be an http:// or https:// URL');
}

/** Seals the fleet private key (which must be extractable) under `passphrase`. */
export async function exportFleetBackup(fleetKeys: CryptoKeyPair, fleetPub: string, signal: string, passphrase: string): Promise<string> {
  if (passphrase.length < MIN_PASSPHRASE) throw bad(`the passphrase must have at least ${MIN_PASSPHRASE} characters`);
  if (!fleetKeys.privateKey.extractable) throw new FlotillaError('forbidden', 'this fleet key is not extractable, so it cannot be backed up here');
  checkSignal(signal);
  if ((await exportPublic(fleetKeys.publicKey)) !== fleetPub) throw bad('the fleet public key does not belong to this key pair');
  const fleet = await fleetIdOf(fleetPub);
  const { priv } = await exportSigningKeys(fleetKeys);
  const kdf: KdfParams = { name: 'PBKDF2', hash: 'SHA-256', iterations: BACKUP_ITERATIONS };
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const saltText = toBase64(salt);
  const key = await deriveKey(passphrase, salt, kdf.iterations);
  const ct = new Uint8Array(
    await subtle().encrypt(
      { name: 'AES-GCM', iv: new Uint8Array(iv), additionalData: new Uint8Array(associatedData(kdf, saltText, fleetPub, fleet, signal)) },
      key,
      new Uint8Array(utf8(JSON.stringify(priv))),
    ),
  );
  const body = { v: 1, kdf, salt: saltText, iv: toBase64(iv), ct: toBase64(ct), fleetPub, fleet, signal };
  return BACKUP_PREFIX + toBase64Url(utf8(JSON.stringify(body)));
}

function bytesField(o: Obj, key: string, min: number, max: number): Uint8Array {
  const text = str(o, key, Math.ceil((max * 4) / 3) + 4, 1);
  const bytes = fromBase64(text);
  if (!bytes || bytes.length < min || bytes.length > max) throw bad(`${key} is not valid base64 of the right length`);
  return bytes;
}

/** Reads the backup's envelope; every field is checked before any crypto runs. */
function parseEnvelope(text: string) {
  const trimmed = text.trim();
  if (trimmed.length > MAX_TEXT) throw bad(`a backup is at most ${MAX_TEXT} characters`);
  if (!trimmed.startsWith(BACKUP_PREFIX)) throw bad(`not a Flotilla fleet backup (it should start with ${BACKUP_PREFIX})`);
  const raw = fromBase64(trimmed.slice(BACKUP_PREFIX.length));
  if (!raw) throw bad('the backup text is not valid base64url; was it cut short when copied?');
  let json: unknown;
  try {
    json = parseJson(fromUtf8(raw), MAX_TEXT);
  } catch {
    throw bad('the backup text is damaged; was it cut short when copied?');
  }
  try {
    const o = obj(json, 'backup');
    if (o['v'] !== 1) throw bad('this backup was made by another version of Flotilla');
    const k = obj(o['kdf'], 'kdf');
    const kdf: KdfParams = {
      name: oneOf(k, 'name', ['PBKDF2'] as const),
      hash: oneOf(k, 'hash', ['SHA-256'] as const),
      iterations: int(k, 'iterations', BACKUP_ITERATIONS, MAX_ITERATIONS),
    };
    const saltText = str(o, 'salt', 64, 1);
    const salt = bytesField(o, 'salt', SALT_BYTES, SALT_BYTES);
    const iv = bytesField(o, 'iv', IV_BYTES, IV_BYTES);
    const ct = bytesField(o, 'ct', 64, 8192);
    const fleetPub = str(o, 'fleetPub', 1200, 1);
    const fleet = str(o, 'fleet', ID_LENGTH, ID_LENGTH);
    const signal = str(o, 'signal', 512, 1);
    checkSignal(signal);
    return { kdf, saltText, salt, iv, ct, fleetPub, fleet, signal };
  } catch (error) {
    if (error instanceof FlotillaError && error.code === 'bad-backup') throw error;
    throw bad(`the backup is malformed: ${error instanceof FlotillaError ? (error.detail ?? error.message) : String(error)}`);
  }
}

/** Opens a backup with its passphrase; the private key is usable for signing only. */
export async function importFleetBackup(text: string, passphrase: string, extractable: boolean): Promise<ImportedFleet> {
  if (!passphrase) throw bad('enter the backup passphrase');
  const e = parseEnvelope(text);
  let fleetId: string;
  try {
    fleetId = await fleetIdOf(e.fleetPub);
  } catch {
    throw bad('the backup holds no valid fleet public key');
  }
  if (fleetId !== e.fleet) throw bad('the fleet id in the backup does not match its fleet key');
  const key = await deriveKey(passphrase, e.salt, e.kdf.iterations);
  let plain: Uint8Array;
  try {
    plain = new Uint8Array(
      await subtle().decrypt(
        { name: 'AES-GCM', iv: new Uint8Array(e.iv), additionalData: new Uint8Array(associatedData(e.kdf, e.saltText, e.fleetPub, e.fleet, e.signal)) },
        key,
        new Uint8Array(e.ct),
      ),
    );
  } catch {
    throw bad(WRONG_PASSPHRASE);
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(fromUtf8(plain)) as unknown;
  } catch {
    throw bad('the sealed fleet key is not a JSON key');
  }
  if (!isObj(jwk) || jwk['kty'] !== 'RSA' || typeof jwk['d'] !== 'string' || typeof jwk['n'] !== 'string') {
    throw bad('the sealed fleet key is not an RSA private key');
  }
  let fleetKeys: CryptoKeyPair;
  try {
    fleetKeys = await importSigningKeys({ priv: { ...(jwk as JsonWebKey), key_ops: ['sign'] }, pub: e.fleetPub }, extractable);
  } catch {
    throw bad('the sealed fleet key could not be imported');
  }
  // The private key must be the fleet public key's other half, or every certificate it signs is void.
  const probe = randomBytes(32);
  if (!(await verify(fleetKeys.publicKey, await sign(fleetKeys.privateKey, probe), probe))) {
    throw bad('the sealed private key does not match the fleet public key');
  }
  return { fleetKeys, fleetPub: e.fleetPub, fleetId, signal: e.signal };
}

/** A new admin device of the imported fleet: fresh keys, a certificate signed by the fleet key. */
export async function deviceFromFleetKeys(fleetKeys: CryptoKeyPair, fleetPub: string, name: string, extractable: boolean): Promise<DeviceIdentity> {
  const device = await createIdentity(extractable);
  const fleetId = await fleetIdOf(fleetPub);
  const cert = await issueDeviceCert(fleetKeys.privateKey, fleetId, device.pub, name, 'admin');
  return { ...device, fleetId, fleetPub, cert, fleetKeys };
}
