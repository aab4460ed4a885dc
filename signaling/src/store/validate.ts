// Readers for what a store client sends: the rid in the URL, the PUT body, the list query.
// Each returns the typed value or throws a FlotillaError naming the field.

import { FlotillaError } from '../../../shared/wire/errors.ts';
import { int, obj, oneOf, optInt } from '../../../shared/wire/validate.ts';
import { RECORD_KINDS, type RecordKind } from './types.ts';

const RID = /^[A-Za-z0-9._:-]{1,64}$/;
const MEMBER_ID = /^[a-z2-7]{52}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Most recipients a record may name. */
export const MAX_RECIPIENTS = 1000;
/** Most records one list call returns. */
export const MAX_LIST_LIMIT = 500;
const DEFAULT_LIST_LIMIT = 100;

/** Checks a record id: 1 to 64 of `A-Z a-z 0-9 . _ : -`. */
export function readRid(rid: string | undefined): string {
  if (rid === undefined || !RID.test(rid)) throw new FlotillaError('bad-message', 'rid: expected 1 to 64 characters of A-Z a-z 0-9 . _ : -');
  return rid;
}

/** A validated PUT body; `exp` is filled in with now + the max TTL when absent. */
export interface PutBody {
  kind: RecordKind;
  version: number;
  to: string[];
  exp: number;
  body: Uint8Array;
}

/** A recipient meaning every device of the fleet (the server knows a caller's kind from its credential). */
export const DEVICES = '@devices';

function readRecipients(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new FlotillaError('bad-message', 'to: expected a non-empty list of member ids, or ["*"]');
  if (value.length === 1 && value[0] === '*') return ['*'];
  if (value.length > MAX_RECIPIENTS) throw new FlotillaError('bad-message', `to: more than ${MAX_RECIPIENTS} recipients`);
  const seen = new Set<string>();
  value.forEach((id: unknown, i) => {
    if (typeof id !== 'string' || !(MEMBER_ID.test(id) || id === DEVICES))
      throw new FlotillaError('bad-message', `to[${i}]: expected a member id (52 base32 characters), "@devices" or a lone "*"`);
    if (seen.has(id)) throw new FlotillaError('bad-message', `to[${i}]: named twice`);
    seen.add(id);
  });
  return [...seen];
}

function readBody(value: unknown, maxBytes: number): Uint8Array {
  if (typeof value !== 'string' || value.length === 0) throw new FlotillaError('bad-message', 'body: expected a non-empty base64 string');
  if (value.length > Math.ceil(maxBytes / 3) * 4) throw new FlotillaError('too-large', `record body over ${maxBytes} bytes`);
  if (value.length % 4 !== 0 || !BASE64.test(value)) throw new FlotillaError('bad-message', 'body: not base64');
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length > maxBytes) throw new FlotillaError('too-large', `record body over ${maxBytes} bytes`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** How --store-max-ttl reads in a refusal: whole days when it is some. */
export function ttlText(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000} days` : `${Math.round(ms / 1000)} seconds`;
}

/** Validates a PUT body. An `exp` past now + `maxTtlMs` is refused with `quota`, not clamped. */
export function readPutBody(raw: unknown, limits: { maxBody: number; maxTtlMs: number }, now: number): PutBody {
  const o = obj(raw, 'body');
  const kind = oneOf(o, 'kind', RECORD_KINDS);
  const version = int(o, 'version', 1);
  const to = readRecipients(o['to']);
  const exp = optInt(o, 'exp', 0);
  if (exp !== undefined && exp <= now) throw new FlotillaError('bad-message', 'exp: already passed');
  if (exp !== undefined && exp > now + limits.maxTtlMs) {
    throw new FlotillaError('quota', `record lifetime: at most ${ttlText(limits.maxTtlMs)} (--store-max-ttl)`);
  }
  return { kind, version, to, exp: exp ?? now + limits.maxTtlMs, body: readBody(o['body'], limits.maxBody) };
}

function queryInt(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new FlotillaError('bad-message', `${name}: expected a whole number from ${min} to ${max}`);
  }
  return Number(value);
}

/** Reads `since` (default 0) and `limit` (default 100, at most 500) from a list query. */
export function readListQuery(query: Record<string, unknown>): { since: number; limit: number } {
  return {
    since: queryInt(query['since'], 'since', 0, 0, Number.MAX_SAFE_INTEGER),
    limit: queryInt(query['limit'], 'limit', DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT),
  };
}
