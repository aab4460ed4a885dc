// STUN Binding server (RFC 8489) beside the signaling server, so peers learn their public address.

import { createSocket, type RemoteInfo } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

const HEADER_LENGTH = 20;
const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_SOFTWARE = 0x8022;
const ATTR_FINGERPRINT = 0x8028;
const FINGERPRINT_XOR = 0x5354554e;
const SOFTWARE = new TextEncoder().encode('flotilla-signal');
// Spoofed source addresses are free for an attacker, so the bucket table must stay bounded.
const MAX_TRACKED_SOURCES = 10_000;

/** One attribute of a STUN message; `value` is a view into the parsed buffer, without padding. */
export interface StunAttribute {
  type: number;
  value: Uint8Array;
}

/** A STUN message whose framing has been checked (header, cookie, lengths, padding). */
export interface StunMessage {
  type: number;
  transactionId: Uint8Array;
  attributes: StunAttribute[];
}

/** A running STUN server; `stats()` counts datagrams received, answers sent and datagrams ignored. */
export interface StunServer {
  readonly port: number;
  readonly address: string;
  close(): Promise<void>;
  stats(): { requests: number; responses: number; dropped: number };
}

/** Options for `startStunServer`; port 0 picks a free port, `host` defaults to '0.0.0.0'. */
export interface StunServerOptions {
  port: number;
  host?: string;
  maxPerSecondPerSource?: number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

/** Parses a STUN message, returning null for anything whose framing is malformed. */
export function parseStunMessage(buf: Uint8Array): StunMessage | null {
  if (buf.byteLength < HEADER_LENGTH) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const type = view.getUint16(0);
  const length = view.getUint16(2);
  // The two top bits are zero in STUN; this is how it is told apart from DTLS/RTP on one port.
  if ((type & 0xc000) !== 0 || view.getUint32(4) !== MAGIC_COOKIE) return null;
  if (length % 4 !== 0 || length !== buf.byteLength - HEADER_LENGTH) return null;
  const attributes: StunAttribute[] = [];
  let offset = HEADER_LENGTH;
  while (offset < buf.byteLength) {
    if (offset + 4 > buf.byteLength) return null;
    const attrType = view.getUint16(offset);
    const attrLength = view.getUint16(offset + 2);
    const end = offset + 4 + attrLength;
    if (end + padding(attrLength) > buf.byteLength) return null;
    attributes.push({ type: attrType, value: buf.subarray(offset + 4, end) });
    offset = end + padding(attrLength);
  }
  return { type, transactionId: buf.subarray(8, HEADER_LENGTH), attributes };
}

/** Builds a Binding success response with XOR-MAPPED-ADDRESS and SOFTWARE (no FINGERPRINT). */
export function buildBindingSuccess(transactionId: Uint8Array, address: string, port: number, family: 'IPv4' | 'IPv6'): Uint8Array {
  if (transactionId.byteLength !== 12) throw new RangeError('A STUN transaction id is 12 bytes.');
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`Bad port ${port}.`);
  const header = new Uint8Array(HEADER_LENGTH);
  const headerView = new DataView(header.buffer);
  headerView.setUint32(4, MAGIC_COOKIE);
  header.set(transactionId, 8);

  const ip = family === 'IPv4' ? ipv4Bytes(address) : ipv6Bytes(address);
  const mapped = new Uint8Array(4 + ip.byteLength);
  const mappedView = new DataView(mapped.buffer);
  mappedView.setUint8(1, family === 'IPv4' ? 0x01 : 0x02);
  mappedView.setUint16(2, port ^ (MAGIC_COOKIE >>> 16));
  // IPv4 is XORed with the cookie; IPv6 with cookie + transaction id, i.e. header bytes 4..20.
  for (let i = 0; i < ip.byteLength; i++) mapped[4 + i] = (ip[i] ?? 0) ^ (header[4 + i] ?? 0);

  const body = concat([attribute(ATTR_XOR_MAPPED_ADDRESS, mapped), attribute(ATTR_SOFTWARE, SOFTWARE)]);
  headerView.setUint16(0, BINDING_SUCCESS);
  headerView.setUint16(2, body.byteLength);
  return concat([header, body]);
}

/** Starts a UDP STUN server answering Binding requests; resolves once the socket is bound. */
export function startStunServer(options: StunServerOptions): Promise<StunServer> {
  const host = options.host ?? '0.0.0.0';
  const rate = options.maxPerSecondPerSource ?? 200;
  const log = options.log ?? (() => undefined);
  if (!(rate > 0)) return Promise.reject(new RangeError('maxPerSecondPerSource must be a positive number.'));
  const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  const counts = { requests: 0, responses: 0, dropped: 0 };
  const allow = createRateLimiter(rate, log);

  const answer = (msg: Buffer, rinfo: RemoteInfo): Uint8Array | null => {
    if (!allow(rinfo.address)) return null;
    const request = parseStunMessage(msg);
    if (!request || request.type !== BINDING_REQUEST) return null;
    const last = request.attributes.at(-1);
    const fingerprinted = request.attributes.some((a) => a.type === ATTR_FINGERPRINT);
    // FINGERPRINT must come last and match: a wrong one means the datagram is not STUN at all.
    if (fingerprinted && (last?.type !== ATTR_FINGERPRINT || !sameBytes(last.value, fingerprint(msg.subarray(0, -8))))) {
      return null;
    }
    const source = unmapIPv4(rinfo);
    const response = buildBindingSuccess(request.transactionId, source.address, rinfo.port, source.family);
    return fingerprinted ? withFingerprint(response) : response;
  };

  socket.on('message', (msg, rinfo) => {
    counts.requests++;
    let response: Uint8Array | null;
    try {
      response = answer(msg, rinfo);
    } catch (error) {
      // Nothing a remote sends may take the server down; keep the detail for the operator.
      log('stun.handler-error', { from: rinfo.address, port: rinfo.port, error: String(error) });
      response = null;
    }
    if (!response) {
      counts.dropped++;
      return;
    }
    socket.send(response, rinfo.port, rinfo.address, (error) => {
      if (error) log('stun.send-failed', { to: rinfo.address, port: rinfo.port, error: error.message });
      else counts.responses++;
    });
  });

  return new Promise((resolve, reject) => {
    const onBindError = (error: Error): void => {
      socket.close(); // an unbound socket still holds a handle
      reject(error);
    };
    socket.once('error', onBindError);
    socket.bind(options.port, host, () => {
      socket.off('error', onBindError);
      // After binding, UDP errors (e.g. ICMP unreachable) are per-datagram: log and keep serving.
      socket.on('error', (error) => log('stun.socket-error', { error: error.message }));
      const bound = socket.address();
      log('stun.listening', { address: bound.address, port: bound.port });
      let closed: Promise<void> | undefined;
      resolve({
        port: bound.port,
        address: bound.address,
        stats: () => ({ ...counts }),
        close: () => (closed ??= new Promise<void>((done) => socket.close(() => done()))),
      });
    });
  });
}

/** Appends a FINGERPRINT attribute to a finished STUN message, fixing up the header length. */
function withFingerprint(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(message.byteLength + 8);
  out.set(message);
  const view = new DataView(out.buffer);
  // The CRC covers the header with its length already counting the FINGERPRINT attribute.
  view.setUint16(2, message.byteLength + 8 - HEADER_LENGTH);
  view.setUint16(message.byteLength, ATTR_FINGERPRINT);
  view.setUint16(message.byteLength + 2, 4);
  out.set(fingerprint(out.subarray(0, message.byteLength)), message.byteLength + 4);
  return out;
}

function fingerprint(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, (crc32(bytes) ^ FINGERPRINT_XOR) >>> 0);
  return out;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (IEEE 802.3), as zlib computes it; Node 20 has no zlib.crc32. */
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Token bucket per source IP (not port: a flood rotates ports for free). */
function createRateLimiter(rate: number, log: NonNullable<StunServerOptions['log']>): (source: string) => boolean {
  const buckets = new Map<string, { tokens: number; at: number; limited: boolean }>();
  return (source) => {
    const now = performance.now();
    let bucket = buckets.get(source);
    if (!bucket) {
      if (buckets.size >= MAX_TRACKED_SOURCES) {
        const oldest = buckets.keys().next();
        if (!oldest.done) buckets.delete(oldest.value);
      }
      bucket = { tokens: rate, at: now, limited: false };
      buckets.set(source, bucket);
    }
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.limited = false;
      return true;
    }
    // Log once per burst, not per datagram: the log must not amplify the flood.
    if (!bucket.limited) log('stun.rate-limited', { from: source, perSecond: rate });
    bucket.limited = true;
    return false;
  };
}

/** A dual-stack socket sees IPv4 peers as ::ffff:a.b.c.d; they need their IPv4 address back. */
function unmapIPv4(rinfo: RemoteInfo): { address: string; family: 'IPv4' | 'IPv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(rinfo.address)?.[1];
  if (mapped !== undefined) return { address: mapped, family: 'IPv4' };
  return { address: rinfo.address, family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4' };
}

function ipv4Bytes(address: string): Uint8Array {
  if (!isIPv4(address)) throw new RangeError(`Not an IPv4 address: ${address}`);
  return Uint8Array.from(address.split('.'), Number);
}

function ipv6Bytes(address: string): Uint8Array {
  const bare = address.replace(/%.*$/, ''); // link-local sources carry a zone id
  if (!isIPv6(bare)) throw new RangeError(`Not an IPv6 address: ${address}`);
  // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two groups; write it after them.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(bare)?.[1];
  const text = dotted === undefined ? bare : `${bare.slice(0, -dotted.length)}0:0`;
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  [...headGroups, ...zeros, ...tailGroups].forEach((group, i) => view.setUint16(i * 2, parseInt(group, 16)));
  if (dotted !== undefined) out.set(ipv4Bytes(dotted), 12);
  return out;
}

function attribute(type: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + value.byteLength + padding(value.byteLength));
  const view = new DataView(out.buffer);
  view.setUint16(0, type);
  view.setUint16(2, value.byteLength);
  out.set(value, 4);
  return out;
}

function padding(length: number): number {
  return (4 - (length % 4)) % 4;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}
