// The store's HTTP API as the CLI, the PWA and the agent call it (docs/protocol.md, "Store").
// Every call carries a fresh fleet credential: a device certificate or a host certificate with
// the fleet key, which the server checks as it checks presence reads.

import { FlotillaError } from '../wire/errors.ts';
import { createPeerCredential } from '../identity/tokens.ts';
import type { DeviceCert, HostCert } from '../identity/certs.ts';
import type { IdentityKeys, PublicKeys } from '../identity/crypto.ts';
import { call, type HttpFetch } from '../controller/signal-api.ts';
import { bool, int, obj, oneOf, optInt, str } from '../wire/validate.ts';
import { MAX_RECORD_BYTES, RECORD_KINDS, checkOuter, type StoredRecord } from './envelope.ts';

/** Who talks to the store: a device or an accepted agent. */
export interface StoreMember {
  id: string;
  keys: IdentityKeys;
  pub: PublicKeys;
  kind: 'agent' | 'device';
  fleetId: string;
  fleetPub: string;
  cert: DeviceCert | HostCert;
}

/** Most records one list call asks for. */
export const PAGE = 500;
/** Most pages one sync reads (bounds a hostile server that always says "more"). */
const MAX_PAGES = 2000;

/** The fleet credential header of a store (or push relay) call. */
export async function authorization(member: StoreMember): Promise<Record<string, string>> {
  const text = await createPeerCredential(member.keys, {
    purpose: 'presence',
    kind: member.kind,
    fleet: member.fleetId,
    ...member.pub,
    cert: JSON.stringify(member.cert),
    fleetPub: member.fleetPub,
  });
  return { authorization: `Flotilla ${text}` };
}

/** Stores a record; the server answers its sequence number. Errors: conflict, quota, too-large, rate-limited. */
export async function storePut(
  signal: string,
  member: StoreMember,
  record: StoredRecord,
  http?: HttpFetch,
): Promise<{ seq: number; version: number; at: number }> {
  const body = await call(
    signal,
    `/api/store/${member.fleetId}/${encodeURIComponent(record.rid)}`,
    {
      method: 'PUT',
      headers: { ...(await authorization(member)), 'content-type': 'application/json' },
      body: JSON.stringify({
        kind: record.kind,
        version: record.version,
        to: record.to,
        ...(record.exp === undefined ? {} : { exp: record.exp }),
        body: record.body,
      }),
    },
    http,
  );
  if (!body) throw new FlotillaError('signaling-failed', 'this signaling server has no store (upgrade it)');
  return { seq: int(body, 'seq'), version: int(body, 'version', 1), at: int(body, 'at') };
}

/** Validates one record as the (untrusted) server returned it. */
export function parseStoredRecord(raw: unknown): StoredRecord {
  const o = obj(raw, 'record');
  const to = o['to'];
  if (!Array.isArray(to) || !to.every((x) => typeof x === 'string')) throw new FlotillaError('bad-message', 'record.to');
  const record: StoredRecord = {
    rid: str(o, 'rid', 64, 1),
    kind: oneOf(o, 'kind', RECORD_KINDS),
    version: int(o, 'version', 1),
    to: to as string[],
    body: str(o, 'body', Math.ceil((MAX_RECORD_BYTES * 4) / 3) + 4, 1),
    seq: int(o, 'seq'),
    by: str(o, 'by', 52, 52),
    size: int(o, 'size'),
    at: int(o, 'at'),
  };
  const exp = optInt(o, 'exp');
  if (exp !== undefined) record.exp = exp;
  checkOuter(record.rid, record.version, record.to);
  return record;
}

/** One page of records after `since` (the server's sequence numbers). */
export async function storeList(
  signal: string,
  member: StoreMember,
  since: number,
  limit = PAGE,
  http?: HttpFetch,
): Promise<{ records: StoredRecord[]; next: number; more: boolean }> {
  const body = await call(signal, `/api/store/${member.fleetId}?since=${since}&limit=${limit}`, { headers: await authorization(member) }, http);
  if (!body) throw new FlotillaError('signaling-failed', 'this signaling server has no store (upgrade it)');
  const raw = body['records'];
  if (!Array.isArray(raw) || raw.length > limit) throw new FlotillaError('bad-message', 'store answer: records');
  const records: StoredRecord[] = [];
  const skipped: string[] = [];
  for (const r of raw) {
    try {
      records.push(parseStoredRecord(r));
    } catch (error) {
      skipped.push((error as Error).message);
    }
  }
  const next = int(body, 'next');
  if (next < since) throw new FlotillaError('bad-message', 'store answer: next went backwards');
  return { records, next, more: bool(body, 'more') };
}

/** Every record after `since`, page by page; returns the new high-water sequence. */
export async function storeSync(
  signal: string,
  member: StoreMember,
  since: number,
  onPage: (records: StoredRecord[]) => Promise<void>,
  http?: HttpFetch,
): Promise<number> {
  let at = since;
  for (let page = 0; page < MAX_PAGES; page++) {
    const { records, next, more } = await storeList(signal, member, at, PAGE, http);
    await onPage(records);
    if (!more || next === at) return next;
    at = next;
  }
  return at;
}
