// The PeerJS signaling protocol as the server speaks it, and the one parser that validates
// every message arriving from it (the server relays whatever other peers send: trust nothing).

import { isObj, type Obj } from './validate.ts';

/** Every message type a PeerJS server sends. */
export const PEERJS_MESSAGE_TYPES = [
  'OPEN',
  'ID-TAKEN',
  'ERROR',
  'OFFER',
  'ANSWER',
  'CANDIDATE',
  'LEAVE',
  'EXPIRE',
  'HEARTBEAT',
  // Flotilla's own: a fleet's new revocation list, pushed to its agents (verified by them).
  'REVOCATION',
  // Flotilla's own: a new record in the fleet's store for this peer; it reads since its last seq.
  'STORE',
] as const;

export type PeerjsMessageType = (typeof PEERJS_MESSAGE_TYPES)[number];

/** Longest SDP we accept (a data-channel SDP is about 1 KiB). */
export const MAX_SDP_LENGTH = 64 * 1024;
/** Longest raw message text we parse. */
export const MAX_PEERJS_MESSAGE_LENGTH = 128 * 1024;
/** Longest peer id, connection id, label or ICE candidate line. */
export const MAX_PEERJS_ID_LENGTH = 256;
const MAX_CANDIDATE_LENGTH = 2048;
const MAX_SHORT_LENGTH = 64;
const MAX_ERROR_TEXT = 1024;

/** What a connection carries; Flotilla only uses `data`, PeerJS also knows `media`. */
export type PeerjsConnectionType = 'data' | 'media';

/** ICE candidate as the browser's RTCIceCandidate serialises it. */
export interface PeerjsCandidate {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
  usernameFragment: string | null;
}

/** OFFER payload; `peer.connect()` sends label, reliable, serialization and metadata. */
export interface OfferPayload {
  sdp: { type: 'offer'; sdp: string };
  type: PeerjsConnectionType;
  connectionId: string;
  label: string | undefined;
  reliable: boolean | undefined;
  serialization: string | undefined;
  /** Whatever the caller attached; never interpreted by the transport. */
  metadata: unknown;
}

/** ANSWER payload. */
export interface AnswerPayload {
  sdp: { type: 'answer'; sdp: string };
  type: PeerjsConnectionType;
  connectionId: string;
}

/** CANDIDATE payload. */
export interface CandidatePayload {
  candidate: PeerjsCandidate;
  type: PeerjsConnectionType;
  connectionId: string;
}

/** ID-TAKEN and ERROR carry the server's sentence. */
export interface ServerErrorPayload {
  msg: string;
}

/** Payload per message type; `undefined` means the message has none we read. */
export interface PeerjsPayloads {
  OPEN: undefined;
  'ID-TAKEN': ServerErrorPayload;
  ERROR: ServerErrorPayload;
  OFFER: OfferPayload;
  ANSWER: AnswerPayload;
  CANDIDATE: CandidatePayload;
  LEAVE: undefined;
  EXPIRE: undefined;
  HEARTBEAT: undefined;
  /** A fleet-signed revocation list, unverified: the receiver checks it with the fleet key. */
  REVOCATION: Obj;
  /** A record was stored for this peer (a hint: the reader then GETs /api/store/<fleet>?since=…). */
  STORE: StorePayload;
}

/** STORE payload: the fleet and the seq of the new record. */
export interface StorePayload {
  fleet: string;
  seq: number;
}

/** Types the server relays from (or on behalf of) another peer: they carry `src`. */
type RelayedType = 'OFFER' | 'ANSWER' | 'CANDIDATE' | 'LEAVE' | 'EXPIRE';

type MessageOf<K extends PeerjsMessageType> = { type: K } & (K extends RelayedType ? { src: string } : unknown) &
  (PeerjsPayloads[K] extends undefined ? unknown : { payload: PeerjsPayloads[K] });

/** A validated message from a PeerJS server. */
export type PeerjsMessage = { [K in PeerjsMessageType]: MessageOf<K> }[PeerjsMessageType];

/**
 * Validates one server message, given as the raw socket text or as parsed JSON.
 * Returns null for anything malformed; `onInvalid` learns why (for logs).
 */
export function parsePeerjsServerMessage(raw: unknown, onInvalid?: (reason: string) => void): PeerjsMessage | null {
  try {
    return readMessage(typeof raw === 'string' ? parseText(raw) : raw);
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    onInvalid?.(error.message);
    return null;
  }
}

class Invalid extends Error {}

function parseText(text: string): unknown {
  if (text.length > MAX_PEERJS_MESSAGE_LENGTH) throw new Invalid(`message longer than ${MAX_PEERJS_MESSAGE_LENGTH}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Invalid('not JSON');
  }
}

function readMessage(value: unknown): PeerjsMessage {
  const o = object(value, 'message');
  const type = o['type'];
  if (!isMessageType(type)) throw new Invalid('unknown type');
  switch (type) {
    case 'OPEN':
      return { type: 'OPEN' };
    case 'HEARTBEAT':
      return { type: 'HEARTBEAT' };
    case 'REVOCATION':
      return { type: 'REVOCATION', payload: object(o['payload'], 'payload') };
    case 'STORE':
      return { type: 'STORE', payload: readStore(object(o['payload'], 'payload')) };
    case 'ID-TAKEN':
      return { type: 'ID-TAKEN', payload: readServerError(o['payload']) };
    case 'ERROR':
      return { type: 'ERROR', payload: readServerError(o['payload']) };
    case 'LEAVE':
      return { type: 'LEAVE', src: readSrc(o) };
    case 'EXPIRE':
      return { type: 'EXPIRE', src: readSrc(o) };
    case 'OFFER':
      return { type: 'OFFER', src: readSrc(o), payload: readOffer(object(o['payload'], 'payload')) };
    case 'ANSWER':
      return { type: 'ANSWER', src: readSrc(o), payload: readAnswer(object(o['payload'], 'payload')) };
    case 'CANDIDATE':
      return { type: 'CANDIDATE', src: readSrc(o), payload: readCandidatePayload(object(o['payload'], 'payload')) };
  }
}

function isMessageType(value: unknown): value is PeerjsMessageType {
  return PEERJS_MESSAGE_TYPES.some((type) => type === value);
}

function object(value: unknown, field: string): Obj {
  if (!isObj(value)) throw new Invalid(`${field}: expected an object`);
  return value;
}

function string(o: Obj, key: string, max: number, min = 0): string {
  const value = o[key];
  if (typeof value !== 'string') throw new Invalid(`${key}: expected a string`);
  if (value.length > max) throw new Invalid(`${key}: longer than ${max}`);
  if (value.length < min) throw new Invalid(`${key}: empty`);
  return value;
}

/** Optional string: absent or null reads as undefined. */
function optString(o: Obj, key: string, max: number): string | undefined {
  return o[key] === undefined || o[key] === null ? undefined : string(o, key, max);
}

function readSrc(o: Obj): string {
  return string(o, 'src', MAX_PEERJS_ID_LENGTH, 1);
}

function readServerError(value: unknown): ServerErrorPayload {
  // The server always sends {msg}; a missing payload still means "refused", so keep the type.
  if (value === undefined || value === null) return { msg: '' };
  return { msg: optString(object(value, 'payload'), 'msg', MAX_ERROR_TEXT) ?? '' };
}

function readStore(p: Obj): StorePayload {
  const fleet = string(p, 'fleet', 52, 52);
  const seq = p['seq'];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new Invalid('seq: expected a whole number');
  return { fleet, seq };
}

function readConnection(p: Obj): { type: PeerjsConnectionType; connectionId: string } {
  const type = p['type'];
  if (type !== 'data' && type !== 'media') throw new Invalid('payload.type: expected data or media');
  return { type, connectionId: string(p, 'connectionId', MAX_PEERJS_ID_LENGTH, 1) };
}

function readSdp<T extends 'offer' | 'answer'>(p: Obj, expected: T): { type: T; sdp: string } {
  const sdp = object(p['sdp'], 'sdp');
  if (sdp['type'] !== expected) throw new Invalid(`sdp.type: expected ${expected}`);
  return { type: expected, sdp: string(sdp, 'sdp', MAX_SDP_LENGTH, 1) };
}

function readOffer(p: Obj): OfferPayload {
  const reliable = p['reliable'];
  if (reliable !== undefined && typeof reliable !== 'boolean') throw new Invalid('reliable: expected a boolean');
  return {
    sdp: readSdp(p, 'offer'),
    ...readConnection(p),
    label: optString(p, 'label', MAX_PEERJS_ID_LENGTH),
    reliable,
    serialization: optString(p, 'serialization', MAX_SHORT_LENGTH),
    metadata: p['metadata'],
  };
}

function readAnswer(p: Obj): AnswerPayload {
  return { sdp: readSdp(p, 'answer'), ...readConnection(p) };
}

function readCandidatePayload(p: Obj): CandidatePayload {
  const c = object(p['candidate'], 'candidate');
  const index = c['sdpMLineIndex'];
  let sdpMLineIndex: number | null = null;
  if (index !== undefined && index !== null) {
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 1023) {
      throw new Invalid('sdpMLineIndex: expected a small integer');
    }
    sdpMLineIndex = index;
  }
  return {
    candidate: {
      candidate: string(c, 'candidate', MAX_CANDIDATE_LENGTH),
      sdpMid: optString(c, 'sdpMid', MAX_SHORT_LENGTH) ?? null,
      sdpMLineIndex,
      usernameFragment: optString(c, 'usernameFragment', MAX_PEERJS_ID_LENGTH) ?? null,
    },
    ...readConnection(p),
  };
}
