// Join tokens (admin → new host) and peer credentials (a peer proving to the signaling
// server that it owns its id, so nobody can squat an agent's id there).

import { FlotillaError } from '../wire/errors.ts';
import { canonicalJson, fromBase64, fromUtf8, toBase64Url, utf8 } from '../wire/encoding.ts';
import { identityId, importVerifyKey, randomBytes, signText, verifyText, type IdentityKeys, type PublicKeys } from './crypto.ts';
import { int, obj, oneOf, optStr, parseJson, str, type Obj } from '../wire/validate.ts';

const TOKEN_PREFIX = 'flt1.';
const CREDENTIAL_PREFIX = 'fc1.';

/** What a join token carries. */
export interface JoinToken {
  v: 1;
  /** Signaling server base URL. */
  signal: string;
  /** Fleet id the agent pins. */
  fleet: string;
  /** Token id, listed and revocable on the admin device. */
  tid: string;
  /** One-time secret (base64url), proven in the first handshake. */
  secret: string;
  /** Expiry, ms since epoch. */
  exp: number;
}

/** Makes a join token valid for `ttlMs`. */
export function createJoinToken(signal: string, fleet: string, ttlMs: number, now = Date.now()): JoinToken {
  return { v: 1, signal, fleet, tid: toBase64Url(randomBytes(9)), secret: toBase64Url(randomBytes(24)), exp: now + ttlMs };
}

/** Encodes a join token as the text an operator copies. */
export function encodeJoinToken(token: JoinToken): string {
  return TOKEN_PREFIX + toBase64Url(utf8(canonicalJson(token)));
}

function decodeEnvelope(text: string, prefix: string, what: string, maxLength: number): Obj {
  const trimmed = text.trim();
  if (!trimmed.startsWith(prefix)) throw new FlotillaError('bad-token', `${what} must start with "${prefix}"`);
  if (trimmed.length > maxLength) throw new FlotillaError('bad-token', `${what} is too long`);
  const bytes = fromBase64(trimmed.slice(prefix.length));
  if (!bytes) throw new FlotillaError('bad-token', `${what} is not valid base64url`);
  let json: string;
  try {
    json = fromUtf8(bytes);
  } catch {
    throw new FlotillaError('bad-token', `${what} is not UTF-8`);
  }
  try {
    return obj(parseJson(json, maxLength), what);
  } catch (error) {
    throw new FlotillaError('bad-token', `${what}: ${(error as FlotillaError).detail ?? 'malformed'}`);
  }
}

/** Decodes and validates a join token; throws bad-token (also when expired). */
export function parseJoinToken(text: string, now = Date.now()): JoinToken {
  const o = decodeEnvelope(text, TOKEN_PREFIX, 'join token', 2048);
  try {
    if (o['v'] !== 1) throw new FlotillaError('bad-token', 'unsupported token version');
    const token: JoinToken = {
      v: 1,
      signal: str(o, 'signal', 512, 1),
      fleet: str(o, 'fleet', 52, 52),
      tid: str(o, 'tid', 64, 1),
      secret: str(o, 'secret', 128, 16),
      exp: int(o, 'exp'),
    };
    if (!/^(https?|wss?):\/\//.test(token.signal)) throw new FlotillaError('bad-token', 'signal must be an http(s) URL');
    if (token.exp <= now) throw new FlotillaError('bad-token', `expired ${new Date(token.exp).toISOString()}`);
    return token;
  } catch (error) {
    if (error instanceof FlotillaError && error.code === 'bad-token') throw error;
    throw new FlotillaError('bad-token', (error as FlotillaError).detail ?? 'malformed');
  }
}

/** Purposes a credential can be made for; one cannot be replayed for the other. */
export type CredentialPurpose = 'register' | 'presence';

/** The signed content of a peer credential. */
export interface PeerCredential extends PublicKeys {
  v: 1;
  purpose: CredentialPurpose;
  kind: 'agent' | 'device';
  id: string;
  fleet: string;
  ts: number;
  /** Device certificate (JSON), for presence reads. */
  cert?: string;
  /** Fleet public key, for presence reads. */
  fleetPub?: string;
}

/** Creates a credential proving ownership of `id` for `purpose`. */
export async function createPeerCredential(keys: IdentityKeys, content: Omit<PeerCredential, 'v' | 'ts' | 'id'> & { now?: number }): Promise<string> {
  const { now, ...rest } = content;
  const body: PeerCredential = { v: 1, ...rest, id: await identityId(rest), ts: now ?? Date.now() };
  const sig = await signText(keys.sign.privateKey, canonicalJson(body));
  return CREDENTIAL_PREFIX + toBase64Url(utf8(canonicalJson({ body, sig })));
}

/** Verifies a credential: signature, id bound to keys, purpose, and freshness. */
export async function verifyPeerCredential(
  text: string,
  expect: { purpose: CredentialPurpose; id?: string; now?: number; maxSkewMs?: number },
): Promise<PeerCredential> {
  const envelope = decodeEnvelope(text, CREDENTIAL_PREFIX, 'credential', 16_384);
  try {
    const b = obj(envelope['body'], 'body');
    const cert = optStr(b, 'cert', 8192);
    const fleetPub = optStr(b, 'fleetPub', 1200);
    const body: PeerCredential = {
      v: 1,
      purpose: oneOf(b, 'purpose', ['register', 'presence'] as const),
      kind: oneOf(b, 'kind', ['agent', 'device'] as const),
      id: str(b, 'id', 52, 52),
      fleet: str(b, 'fleet', 52, 52),
      signPub: str(b, 'signPub', 1200, 1),
      encPub: str(b, 'encPub', 1200, 1),
      ts: int(b, 'ts'),
      ...(cert === undefined ? {} : { cert }),
      ...(fleetPub === undefined ? {} : { fleetPub }),
    };
    if (b['v'] !== 1) throw new FlotillaError('bad-token', 'unsupported credential version');
    if (body.purpose !== expect.purpose) throw new FlotillaError('bad-token', `credential is for ${body.purpose}`);
    if (expect.id !== undefined && body.id !== expect.id) throw new FlotillaError('bad-token', 'credential is for another id');
    if ((await identityId(body)) !== body.id) throw new FlotillaError('bad-token', 'id does not match the keys');
    const skew = Math.abs((expect.now ?? Date.now()) - body.ts);
    if (skew > (expect.maxSkewMs ?? 300_000)) throw new FlotillaError('bad-token', 'credential is stale; check the clock');
    const ok = await verifyText(await importVerifyKey(body.signPub), str(envelope, 'sig', 1024), canonicalJson(body));
    if (!ok) throw new FlotillaError('bad-token', 'credential signature does not verify');
    return body;
  } catch (error) {
    if (error instanceof FlotillaError && error.code === 'bad-token') throw error;
    throw new FlotillaError('bad-token', (error as FlotillaError).detail ?? 'malformed credential');
  }
}

/**
 * A device may register on the signaling server as `<device id>-<instance>` (each process or
 * browser tab its own instance), so two processes of one device do not take the registration
 * from each other. Agents register as their id alone: they are the ones dialled.
 */
export function splitSignalingId(id: string): { identity: string; instance?: string } {
  const match = /^([a-z2-7]{52})-([a-z2-7]{1,16})$/.exec(id);
  return match ? { identity: match[1]!, instance: match[2]! } : { identity: id };
}

/** A fresh instance suffix for `splitSignalingId`: 8 base32 characters. */
export function newSignalingInstance(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => alphabet[b & 31]).join('');
}
