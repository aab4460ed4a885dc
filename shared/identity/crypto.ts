// Web Crypto primitives for identities: RSA-PSS signing keys, RSA-OAEP wrapping keys,
// fingerprint ids, and AES-GCM keys. crypto.subtle is the only crypto API used anywhere.

import { FlotillaError } from '../wire/errors.ts';
import { concatBytes, fromBase64, toBase32, toBase64, utf8 } from '../wire/encoding.ts';

const RSA_BITS = 2048;
const PSS: RsaPssParams = { name: 'RSA-PSS', saltLength: 32 };
const PSS_GEN: RsaHashedKeyGenParams = {
  name: 'RSA-PSS',
  modulusLength: RSA_BITS,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};
const OAEP_GEN: RsaHashedKeyGenParams = { ...PSS_GEN, name: 'RSA-OAEP' };

/** Returns crypto.subtle or explains that a secure context is needed. */
export function subtle(): SubtleCrypto {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (!c?.subtle) throw new FlotillaError('insecure-context');
  return c.subtle;
}

/** Cryptographically random bytes. */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  globalThis.crypto.getRandomValues(out);
  return out;
}

/** Copies bytes into a fresh ArrayBuffer-backed array (Web Crypto wants BufferSource). */
function buf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/** SHA-256 digest. */
export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', buf(bytes)));
}

/** Fingerprint id: lower-case base32 of SHA-256 (52 characters). */
export async function fingerprint(bytes: Uint8Array): Promise<string> {
  return toBase32(await sha256(bytes));
}

/** Short form of an id for lists (first 8 characters). */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** A peer identity: a signing pair and a wrapping pair. */
export interface IdentityKeys {
  sign: CryptoKeyPair;
  enc: CryptoKeyPair;
}

/** The public half of an identity as carried on the wire (base64 SPKI). */
export interface PublicKeys {
  signPub: string;
  encPub: string;
}

/** Generates an identity; `extractable` lets Node persist private keys to a 0600 file. */
export async function generateIdentityKeys(extractable: boolean): Promise<IdentityKeys> {
  const [sign, enc] = await Promise.all([
    subtle().generateKey(PSS_GEN, extractable, ['sign', 'verify']) as Promise<CryptoKeyPair>,
    subtle().generateKey(OAEP_GEN, extractable, ['encrypt', 'decrypt']) as Promise<CryptoKeyPair>,
  ]);
  return { sign, enc };
}

/** Generates a fleet signing key pair. */
export async function generateSigningKeys(extractable: boolean): Promise<CryptoKeyPair> {
  return (await subtle().generateKey(PSS_GEN, extractable, ['sign', 'verify'])) as CryptoKeyPair;
}

/** Exports a public key as base64 SPKI. */
export async function exportPublic(key: CryptoKey): Promise<string> {
  return toBase64(new Uint8Array(await subtle().exportKey('spki', key)));
}

/** Public keys of an identity, base64 SPKI. */
export async function publicKeysOf(keys: IdentityKeys): Promise<PublicKeys> {
  const [signPub, encPub] = await Promise.all([exportPublic(keys.sign.publicKey), exportPublic(keys.enc.publicKey)]);
  return { signPub, encPub };
}

function spki(b64: string, what: string): Uint8Array {
  const bytes = fromBase64(b64);
  if (!bytes || bytes.length < 200 || bytes.length > 1200) {
    throw new FlotillaError('bad-message', `${what} is not a base64 RSA public key`);
  }
  return bytes;
}

const VERIFY_ALG: RsaHashedImportParams = { name: 'RSA-PSS', hash: 'SHA-256' };
const WRAP_ALG: RsaHashedImportParams = { name: 'RSA-OAEP', hash: 'SHA-256' };
/** Modulus sizes accepted from peers: what Flotilla generates (2048) up to 4096. */
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 4096;
/** Canonical checks already passed, by the base64 text (RSA import and export are not free). */
const canonicalSeen = new Set<string>();
const MAX_CANONICAL_SEEN = 4096;

/**
 * Imports a base64 SPKI RSA key and insists that the text is the one encoding of it: standard
 * base64 exactly as `exportPublic` writes it, and DER that exporting the imported key gives
 * back byte for byte (no trailing bytes, no long-form lengths, no leading zeros), with a
 * 2048–4096-bit modulus and the exponent 65537. Ids are fingerprints of these bytes, so
 * without this one key would give as many ids as it has encodings.
 */
async function importCanonical(b64: string, what: string, algorithm: RsaHashedImportParams, usage: KeyUsage): Promise<CryptoKey> {
  const bytes = spki(b64, what);
  let key: CryptoKey;
  try {
    key = await subtle().importKey('spki', buf(bytes), algorithm, true, [usage]);
  } catch {
    throw new FlotillaError('bad-message', `${what} could not be imported as an RSA public key`);
  }
  const cacheKey = `${algorithm.name}:${b64}`;
  if (canonicalSeen.has(cacheKey)) return key;
  const rsa = key.algorithm as RsaHashedKeyAlgorithm;
  const exponent = Array.from(rsa.publicExponent).join(',');
  if (rsa.modulusLength < MIN_RSA_BITS || rsa.modulusLength > MAX_RSA_BITS || (exponent !== '1,0,1' && exponent !== '0,1,0,1')) {
    throw new FlotillaError('bad-message', `${what} must be an RSA key of ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits with exponent 65537`);
  }
  const again = new Uint8Array(await subtle().exportKey('spki', key));
  if (toBase64(again) !== b64) {
    throw new FlotillaError('bad-message', `${what} is not in canonical form (base64 of the DER SPKI, nothing added)`);
  }
  if (canonicalSeen.size >= MAX_CANONICAL_SEEN) canonicalSeen.clear();
  canonicalSeen.add(cacheKey);
  return key;
}

/** Throws bad-message unless `pub` holds two canonical RSA keys (see importCanonical). */
export async function checkCanonicalKeys(pub: PublicKeys): Promise<void> {
  await Promise.all([importCanonical(pub.signPub, 'signPub', VERIFY_ALG, 'verify'), importCanonical(pub.encPub, 'encPub', WRAP_ALG, 'encrypt')]);
}

/**
 * The id of an identity: fingerprint over both public keys, so neither can be swapped. Only
 * canonical keys have an id (bad-message otherwise), so one key pair has exactly one id.
 */
export async function identityId(pub: PublicKeys): Promise<string> {
  await checkCanonicalKeys(pub);
  return fingerprint(concatBytes(spki(pub.signPub, 'signPub'), spki(pub.encPub, 'encPub')));
}

/** The id of a fleet: fingerprint of its public signing key (canonical, as for identityId). */
export async function fleetIdOf(fleetPub: string): Promise<string> {
  await importCanonical(fleetPub, 'fleet key', VERIFY_ALG, 'verify');
  return fingerprint(spki(fleetPub, 'fleet key'));
}

/** Imports a base64 SPKI RSA-PSS verification key (canonical encoding only). */
export async function importVerifyKey(b64: string): Promise<CryptoKey> {
  return importCanonical(b64, 'signPub', VERIFY_ALG, 'verify');
}

/** Imports a base64 SPKI RSA-OAEP wrapping key (canonical encoding only). */
export async function importWrapKey(b64: string): Promise<CryptoKey> {
  return importCanonical(b64, 'encPub', WRAP_ALG, 'encrypt');
}

/** RSA-PSS signature. */
export async function sign(key: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().sign(PSS, key, buf(data)));
}

/** RSA-PSS verification; false (never a throw) for a bad signature. */
export async function verify(key: CryptoKey, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  try {
    return await subtle().verify(PSS, key, buf(signature), buf(data));
  } catch {
    return false;
  }
}

/** Signs a string's UTF-8 bytes, returning base64. */
export async function signText(key: CryptoKey, text: string): Promise<string> {
  return toBase64(await sign(key, utf8(text)));
}

/** Verifies a base64 signature over a string's UTF-8 bytes. */
export async function verifyText(key: CryptoKey, signatureB64: string, text: string): Promise<boolean> {
  const signature = fromBase64(signatureB64);
  if (!signature) return false;
  return verify(key, signature, utf8(text));
}

/** Makes a fresh AES-256-GCM key and its raw bytes (the bytes are wrapped for the peer). */
export async function generateAesKey(): Promise<{ key: CryptoKey; raw: Uint8Array }> {
  const raw = randomBytes(32);
  return { key: await importAesKey(raw), raw };
}

/** Imports 32 raw bytes as a non-extractable AES-GCM key. */
export async function importAesKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== 32) throw new FlotillaError('handshake-failed', 'session key must be 32 bytes');
  return subtle().importKey('raw', buf(raw), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

/** RSA-OAEP encrypts (wraps) bytes for a peer. */
export async function wrapFor(pub: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().encrypt({ name: 'RSA-OAEP' }, pub, buf(data)));
}

/** RSA-OAEP decrypts (unwraps) bytes sent to us. */
export async function unwrap(priv: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  try {
    return new Uint8Array(await subtle().decrypt({ name: 'RSA-OAEP' }, priv, buf(data)));
  } catch {
    throw new FlotillaError('handshake-failed', 'the session key could not be unwrapped');
  }
}

/** HMAC-SHA256, used for join-token proofs. */
export async function hmac(secret: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', buf(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle().sign('HMAC', key, buf(data)));
}

/** Serialised private identity for Node's 0600 state files. */
export interface StoredIdentity {
  signPriv: JsonWebKey;
  signPub: string;
  encPriv: JsonWebKey;
  encPub: string;
}

/** Exports an extractable identity for storage. */
export async function exportIdentity(keys: IdentityKeys): Promise<StoredIdentity> {
  const [signPriv, encPriv, pub] = await Promise.all([
    subtle().exportKey('jwk', keys.sign.privateKey),
    subtle().exportKey('jwk', keys.enc.privateKey),
    publicKeysOf(keys),
  ]);
  return { signPriv, encPriv, ...pub };
}

/** Imports a stored identity. */
export async function importIdentity(stored: StoredIdentity, extractable = true): Promise<IdentityKeys> {
  const hashed = { hash: 'SHA-256' };
  const [signPriv, signPub, encPriv, encPub] = await Promise.all([
    subtle().importKey('jwk', stored.signPriv, { name: 'RSA-PSS', ...hashed }, extractable, ['sign']),
    importVerifyKey(stored.signPub),
    subtle().importKey('jwk', stored.encPriv, { name: 'RSA-OAEP', ...hashed }, extractable, ['decrypt']),
    importWrapKey(stored.encPub),
  ]);
  return { sign: { privateKey: signPriv, publicKey: signPub }, enc: { privateKey: encPriv, publicKey: encPub } };
}

/** Exports a signing pair (the fleet key) for storage. */
export async function exportSigningKeys(pair: CryptoKeyPair): Promise<{ priv: JsonWebKey; pub: string }> {
  return { priv: await subtle().exportKey('jwk', pair.privateKey), pub: await exportPublic(pair.publicKey) };
}

/** Imports a stored signing pair. */
export async function importSigningKeys(stored: { priv: JsonWebKey; pub: string }, extractable = true): Promise<CryptoKeyPair> {
  const privateKey = await subtle().importKey('jwk', stored.priv, { name: 'RSA-PSS', hash: 'SHA-256' }, extractable, ['sign']);
  return { privateKey, publicKey: await importVerifyKey(stored.pub) };
}
