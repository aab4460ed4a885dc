// The validating parser for PeerJS messages a client sends to the server. PeerServer casts
// JSON blindly and relays whatever it got; here every message is checked and rebuilt from
// the fields PeerJS defines, so only well-formed, bounded messages reach another peer.

import { MAX_SDP_LENGTH } from '../../shared/wire/peerjs-messages.ts';
import { isObj, type Obj } from '../../shared/wire/validate.ts';

/** Types a client may send; EXPIRE, OPEN, ERROR and ID-TAKEN come only from the server. */
export const CLIENT_MESSAGE_TYPES = ['HEARTBEAT', 'OFFER', 'ANSWER', 'CANDIDATE', 'LEAVE'] as const;
export type ClientMessageType = (typeof CLIENT_MESSAGE_TYPES)[number];

/** Longest destination id (Flotilla ids are 52 characters). */
export const MAX_DST_LENGTH = 64;
const MAX_CONNECTION_ID = 256;
const MAX_CANDIDATE = 2048;
const MAX_SHORT = 64;
/** Nesting allowed in OFFER metadata: deep JSON could overflow the stack when re-serialised. */
const MAX_METADATA_DEPTH = 16;
// PeerJS ids: letters and digits, optionally joined by single spaces, dashes or underscores.
const PEER_ID = /^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$/;

/** A validated client message, holding only fields PeerJS defines. */
export type ClientMessage = { type: 'HEARTBEAT' } | { type: 'LEAVE'; dst: string } | { type: 'OFFER' | 'ANSWER' | 'CANDIDATE'; dst: string; payload: Obj };

export type ParseResult = { ok: true; message: ClientMessage } | { ok: false; reason: string };

class Invalid extends Error {}

/** Validates one WebSocket frame from a client; `reason` says what was wrong (for logs and the sender). */
export function parseClientMessage(data: unknown, isBinary = false): ParseResult {
  try {
    if (isBinary) throw new Invalid('binary frames are not accepted');
    return { ok: true, message: readMessage(parseText(textOf(data))) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, reason: error.message };
    // A RangeError from hostile nesting or anything unforeseen is still just a bad message.
    return { ok: false, reason: `malformed message (${error instanceof Error ? error.name : 'error'})` };
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function textOf(data: unknown): string {
  try {
    if (typeof data === 'string') return data;
    if (Array.isArray(data)) return decoder.decode(Buffer.concat(data.filter((part): part is Buffer => Buffer.isBuffer(part))));
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return decoder.decode(data);
  } catch {
    throw new Invalid('not UTF-8 text');
  }
  throw new Invalid('unreadable frame');
}

function parseText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Invalid('not JSON');
  }
}

function readMessage(value: unknown): ClientMessage {
  const o = object(value, 'message');
  const type = o['type'];
  switch (type) {
    case 'HEARTBEAT':
      return { type };
    case 'LEAVE':
      return { type, dst: readDst(o) };
    case 'OFFER':
      return { type, dst: readDst(o), payload: readOffer(object(o['payload'], 'payload')) };
    case 'ANSWER':
      return { type, dst: readDst(o), payload: readAnswer(object(o['payload'], 'payload')) };
    case 'CANDIDATE':
      return { type, dst: readDst(o), payload: readCandidate(object(o['payload'], 'payload')) };
    default:
      throw new Invalid(typeof type === 'string' ? `unknown type ${JSON.stringify(type.slice(0, 32))}` : 'type: expected a string');
  }
}

function object(value: unknown, field: string): Obj {
  if (!isObj(value)) throw new Invalid(`${field}: expected an object`);
  return value;
}

function string(o: Obj, key: string, max: number, min = 0): string {
  const value = o[key];
  if (typeof value !== 'string') throw new Invalid(`${key}: expected a string`);
  if (value.length > max) throw new Invalid(`${key}: longer than ${max} characters`);
  if (value.length < min) throw new Invalid(`${key}: must not be empty`);
  return value;
}

/** Copies an optional field that must have `kind` when present (null counts as absent). */
function optional(o: Obj, out: Obj, key: string, kind: 'string' | 'boolean', max = MAX_SHORT): void {
  const value = o[key];
  if (value === undefined || value === null) return;
  if (typeof value !== kind) throw new Invalid(`${key}: expected a ${kind}`);
  out[key] = kind === 'string' ? string(o, key, max) : value;
}

function readDst(o: Obj): string {
  const dst = string(o, 'dst', MAX_DST_LENGTH, 1);
  if (!PEER_ID.test(dst)) throw new Invalid('dst: not a peer id');
  return dst;
}

function readConnection(p: Obj, out: Obj): void {
  const type = p['type'];
  if (type !== 'data' && type !== 'media') throw new Invalid('payload.type: expected data or media');
  out['type'] = type;
  out['connectionId'] = string(p, 'connectionId', MAX_CONNECTION_ID, 1);
  optional(p, out, 'browser', 'string');
}

function readSdp(p: Obj, expected: 'offer' | 'answer'): Obj {
  const sdp = object(p['sdp'], 'sdp');
  if (sdp['type'] !== expected) throw new Invalid(`sdp.type: expected ${expected}`);
  return { type: expected, sdp: string(sdp, 'sdp', MAX_SDP_LENGTH, 1) };
}

function readOffer(p: Obj): Obj {
  const out: Obj = { sdp: readSdp(p, 'offer') };
  readConnection(p, out);
  optional(p, out, 'label', 'string', MAX_CONNECTION_ID);
  optional(p, out, 'reliable', 'boolean');
  optional(p, out, 'serialization', 'string');
  if (p['metadata'] !== undefined) {
    if (depth(p['metadata'], 0) > MAX_METADATA_DEPTH) throw new Invalid(`metadata: nested deeper than ${MAX_METADATA_DEPTH}`);
    out['metadata'] = p['metadata'];
  }
  return out;
}

function readAnswer(p: Obj): Obj {
  const out: Obj = { sdp: readSdp(p, 'answer') };
  readConnection(p, out);
  return out;
}

function readCandidate(p: Obj): Obj {
  const c = object(p['candidate'], 'candidate');
  const index = c['sdpMLineIndex'];
  if (index !== undefined && index !== null && (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 1023)) {
    throw new Invalid('sdpMLineIndex: expected a small integer');
  }
  const candidate: Obj = { candidate: string(c, 'candidate', MAX_CANDIDATE), sdpMLineIndex: index ?? null, sdpMid: null, usernameFragment: null };
  optional(c, candidate, 'sdpMid', 'string');
  optional(c, candidate, 'usernameFragment', 'string', MAX_CONNECTION_ID);
  const out: Obj = { candidate };
  readConnection(p, out);
  return out;
}

/** Nesting depth of a JSON value, stopping early once past the limit. */
function depth(value: unknown, level: number): number {
  if (level > MAX_METADATA_DEPTH || typeof value !== 'object' || value === null) return level;
  let deepest = level + 1;
  for (const child of Object.values(value)) {
    deepest = Math.max(deepest, depth(child, level + 1));
    if (deepest > MAX_METADATA_DEPTH) break;
  }
  return deepest;
}
