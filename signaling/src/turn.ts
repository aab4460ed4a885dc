// TURN credentials in coturn's shared-secret REST scheme (`use-auth-secret` +
// `static-auth-secret`, draft-uberti-behave-turn-rest): the username is `<unix expiry>:<peer id>`
// and the password is base64(HMAC-SHA1(secret, username)). coturn recomputes the HMAC from its
// own copy of the secret and refuses the username once its expiry has passed, so the signaling
// server never tells coturn anything: both only share the secret.
// Web Crypto only (house rule): no node:crypto.

import { toBase64, utf8 } from '../../shared/wire/encoding.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';

/** What flotilla-signal needs to issue TURN credentials. */
export interface TurnOptions {
  /** coturn's `static-auth-secret`. */
  secret: string;
  /** TURN URLs handed to peers, e.g. `turn:turn.example.org:3478?transport=udp`. */
  urls: string[];
  /** Lifetime of each credential in seconds. Default 3600. */
  ttlS?: number;
}

/** One issued TURN credential, as an RTCIceServer entry plus its expiry. */
export interface TurnCredential {
  urls: string[];
  username: string;
  credential: string;
  /** Unix seconds after which coturn refuses the username. */
  expiresAt: number;
}

const TURN_URL = /^turns?:[^\s?]+(\?transport=(udp|tcp))?$/;
export const DEFAULT_TURN_TTL_S = 3600;

/** Checks the shape of a TURN URL; throws bad-config with a sentence. */
export function checkTurnUrl(url: string): string {
  if (!TURN_URL.test(url)) throw new FlotillaError('bad-config', `--turn-url must look like turn:host:3478?transport=udp (or turns:…), not "${url}"`);
  return url;
}

/** base64(HMAC-SHA1(secret, username)): coturn's REST-API password for `username`. */
export async function turnPassword(secret: string, username: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new Uint8Array(utf8(secret)), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  return toBase64(new Uint8Array(await crypto.subtle.sign('HMAC', key, new Uint8Array(utf8(username)))));
}

/** Issues a credential for `peerId`, valid for `ttlS` seconds from `now` (ms). */
export async function issueTurnCredential(options: TurnOptions, peerId: string, now = Date.now()): Promise<TurnCredential> {
  const expiresAt = Math.floor(now / 1000) + (options.ttlS ?? DEFAULT_TURN_TTL_S);
  const username = `${expiresAt}:${peerId}`;
  return { urls: [...options.urls], username, credential: await turnPassword(options.secret, username), expiresAt };
}

/** Reads a secret file: the first non-empty line, trimmed. Throws bad-config when there is none. */
export function parseTurnSecret(text: string, file: string): string {
  const secret = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  if (!secret) throw new FlotillaError('bad-config', `the TURN secret file ${file} is empty`);
  if (secret.length < 16) throw new FlotillaError('bad-config', `the TURN secret in ${file} is shorter than 16 characters`);
  return secret;
}
