// Calls to the signaling server's small HTTP API (presence, revocation lists, ICE servers),
// shared by the CLI, the PWA and the agent. fetch exists in browsers and Node 20; the agent
// passes its own smaller client (agent/src/http-client.ts) to the calls it makes.

import { FlotillaError, isErrorCode } from '../wire/errors.ts';
import { createPeerCredential } from '../identity/tokens.ts';
import { parseRevocationList, type RevocationList } from '../identity/certs.ts';
import type { DeviceIdentity } from '../identity/fleet.ts';
import type { IdentityKeys, PublicKeys } from '../identity/crypto.ts';
import { bool, int, isObj, obj, optInt, str, type Obj } from '../wire/validate.ts';

/** An agent as the signaling server sees it. */
export interface PresenceEntry {
  id: string;
  online: boolean;
  lastSeen: number;
  connectedAt?: number;
}

/** A STUN/TURN server entry. */
export interface IceServerConfig {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** What the API calls need of fetch; the agent passes a smaller client with this shape. */
export type HttpFetch = (
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{ status: number; ok: boolean; json(): Promise<unknown> }>;

/** The platform's fetch, looked up at call time. */
const platformFetch: HttpFetch = (url, init) => fetch(url, init);

function apiUrl(signal: string, path: string): string {
  return new URL(path.replace(/^\//, ''), signal.endsWith('/') ? signal : signal + '/').toString();
}

/** One call to the signaling server's API: its JSON body, or undefined on 404; errors as FlotillaError with the server's code. */
export async function call(
  signal: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  http: HttpFetch = platformFetch,
): Promise<Obj | undefined> {
  let response: Awaited<ReturnType<HttpFetch>>;
  try {
    response = await http(apiUrl(signal, path), { ...init, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new FlotillaError('signaling-failed', `${signal}: ${(error as Error).message}`);
  }
  if (response.status === 404) return undefined;
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new FlotillaError('signaling-failed', `${path} answered ${response.status} without JSON`);
  }
  if (!response.ok) {
    const error = isObj(body) && isObj(body['error']) ? body['error'] : {};
    const code = isErrorCode(error['code']) ? error['code'] : 'signaling-failed';
    throw new FlotillaError(code, `signaling server: ${typeof error['message'] === 'string' ? error['message'] : response.status}`);
  }
  return obj(body, path);
}

/**
 * How long a presence credential is reused. Making one costs an RSA signature (milliseconds),
 * and the control process asks once per invocation, the PWA every 5 s. The server accepts a
 * credential for 5 minutes either way (it is a bearer token within that window already), so
 * reuse adds no exposure; a reused one refused as stale (a skewed clock) is made afresh once.
 */
export const PRESENCE_CREDENTIAL_REUSE_MS = 60_000;

const presenceCredentials = new WeakMap<DeviceIdentity, { text: string; madeAt: number; cert: DeviceIdentity['cert']; fleetPub: string }>();

async function presenceCredential(device: DeviceIdentity, now: number, fresh: boolean): Promise<{ text: string; reused: boolean }> {
  const kept = presenceCredentials.get(device);
  if (
    !fresh &&
    kept &&
    kept.cert === device.cert &&
    kept.fleetPub === device.fleetPub &&
    now - kept.madeAt >= 0 &&
    now - kept.madeAt < PRESENCE_CREDENTIAL_REUSE_MS
  ) {
    return { text: kept.text, reused: true };
  }
  const text = await createPeerCredential(device.keys, {
    purpose: 'presence',
    kind: 'device',
    fleet: device.fleetId,
    ...device.pub,
    cert: JSON.stringify(device.cert),
    fleetPub: device.fleetPub,
    now,
  });
  presenceCredentials.set(device, { text, madeAt: now, cert: device.cert, fleetPub: device.fleetPub });
  return { text, reused: false };
}

/** Reads which of the fleet's agents are online (the server checks this device's certificate). */
export async function fetchPresence(signal: string, device: DeviceIdentity, now: () => number = Date.now): Promise<PresenceEntry[]> {
  const ask = async (fresh: boolean) => {
    const credential = await presenceCredential(device, now(), fresh);
    try {
      return await call(signal, '/api/presence', { headers: { authorization: `Flotilla ${credential.text}` } });
    } catch (error) {
      if (!credential.reused || !(error instanceof FlotillaError) || error.code !== 'bad-token') throw error;
      presenceCredentials.delete(device);
      return ask(true);
    }
  };
  const body = await ask(false);
  if (!body || !Array.isArray(body['agents'])) throw new FlotillaError('signaling-failed', 'presence answer has no agents list');
  return body['agents'].slice(0, 100_000).map((raw: unknown) => {
    const a = obj(raw, 'agent');
    const connectedAt = optInt(a, 'connectedAt');
    return { id: str(a, 'id', 52, 52), online: bool(a, 'online'), lastSeen: int(a, 'lastSeen'), ...(connectedAt === undefined ? {} : { connectedAt }) };
  });
}

/** Fallback ICE servers when the server cannot be asked: its own STUN responder on 3478. */
export function defaultIceServers(signal: string): IceServerConfig[] {
  const host = new URL(signal).hostname;
  return [{ urls: `stun:${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:3478` }];
}

/** Hands a revocation list to the server, which passes it to agents. */
export async function publishRevocation(signal: string, fleetPub: string, list: RevocationList): Promise<void> {
  await call(signal, '/api/revocation', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ fleetPub, list }) });
}

/** The newest revocation list the server holds for a fleet (unverified: check the signature). */
export async function fetchRevocation(signal: string, fleet: string, http?: HttpFetch): Promise<RevocationList | undefined> {
  const body = await call(signal, `/api/revocation/${fleet}`, {}, http);
  return body ? parseRevocationList(body) : undefined;
}

/** Who asks for ICE servers: with it the server may add TURN credentials (register credential). */
export interface IceIdentity {
  keys: IdentityKeys;
  pub: PublicKeys;
  kind: 'agent' | 'device';
  fleet: string;
}

/**
 * The ICE servers the signaling server hands out: its STUN always, and TURN with time-limited
 * credentials when it has a relay and `identity` proves a peer id.
 */
export async function fetchIceServers(signal: string, identity?: IceIdentity, http?: HttpFetch): Promise<IceServerConfig[]> {
  const headers: Record<string, string> = {};
  if (identity) {
    const credential = await createPeerCredential(identity.keys, { purpose: 'register', kind: identity.kind, fleet: identity.fleet, ...identity.pub });
    headers['authorization'] = `Flotilla ${credential}`;
  }
  const body = await call(signal, '/api/ice', { headers }, http);
  if (!body || !Array.isArray(body['iceServers'])) throw new FlotillaError('signaling-failed', 'no ICE servers offered');
  return body['iceServers'].slice(0, 16).map((raw: unknown) => {
    const s = obj(raw, 'iceServer');
    const urls = s['urls'];
    if (typeof urls !== 'string' && !(Array.isArray(urls) && urls.every((u) => typeof u === 'string')))
      throw new FlotillaError('bad-message', 'iceServer.urls');
    return {
      urls: urls as string | string[],
      ...(typeof s['username'] === 'string' ? { username: s['username'] } : {}),
      ...(typeof s['credential'] === 'string' ? { credential: s['credential'] } : {}),
    };
  });
}

/** When a TURN username (`<unix expiry>:<id>`, coturn's REST scheme) stops working, in ms; undefined without one. */
export function turnExpiry(servers: readonly IceServerConfig[]): number | undefined {
  let earliest: number | undefined;
  for (const s of servers) {
    const match = typeof s.username === 'string' ? /^(\d{1,12}):/.exec(s.username) : null;
    if (!match) continue;
    const at = Number(match[1]) * 1000;
    earliest = earliest === undefined ? at : Math.min(earliest, at);
  }
  return earliest;
}

/** How long before a TURN credential's expiry a fresh one is fetched. */
const TURN_REFRESH_MARGIN_MS = 5 * 60_000;
/** Without TURN credentials, the list is asked for again this often (the server may gain a relay). */
const ICE_REFETCH_MS = 60 * 60_000;
/** After a failed fetch, the next connection does not ask again before this. */
const ICE_RETRY_MS = 30_000;

/**
 * ICE servers for each new connection, fetched again before their TURN credentials expire:
 * a peer that runs for days keeps getting relays. A failed fetch keeps the last list while its
 * credentials still hold, else falls back to `fallback` (STUN only), and is retried later.
 */
export function iceServerSource(
  load: () => Promise<IceServerConfig[]>,
  fallback: () => IceServerConfig[],
  onError: (error: Error) => void = () => undefined,
  now: () => number = Date.now,
): () => Promise<IceServerConfig[]> {
  let current: IceServerConfig[] | undefined;
  let refreshAt = 0;
  let inFlight: Promise<IceServerConfig[]> | undefined;
  const usable = (servers: IceServerConfig[]): boolean => {
    const expiry = turnExpiry(servers);
    return expiry === undefined || expiry > now();
  };
  const refresh = async (): Promise<IceServerConfig[]> => {
    try {
      const servers = await load();
      const expiry = turnExpiry(servers);
      current = servers;
      refreshAt = expiry === undefined ? now() + ICE_REFETCH_MS : Math.max(now() + ICE_RETRY_MS, expiry - TURN_REFRESH_MARGIN_MS);
    } catch (error) {
      onError(error instanceof Error ? error : new Error(String(error)));
      if (!current || !usable(current)) current = fallback();
      refreshAt = now() + ICE_RETRY_MS;
    }
    return current;
  };
  return () => {
    if (current && now() < refreshAt && usable(current)) return Promise.resolve(current);
    inFlight ??= refresh().finally(() => (inFlight = undefined));
    return inFlight;
  };
}
