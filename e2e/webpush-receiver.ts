// The receiving end of Web Push for tests: a browser's side of a subscription (its P-256 key pair
// and auth secret), RFC 8291 decryption written here on node:crypto (not the library that
// encrypts), the check of a VAPID JWT (RFC 8292), and a stand-in push service on loopback that
// records what it gets. Used by the relay's unit test and the alerts' integration test.

import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify, type ECDH, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

const b64url = (b: Buffer) => b.toString('base64url');

/** A browser's side of a subscription. */
export interface Subscriber {
  ecdh: ECDH;
  pub: Buffer;
  auth: Buffer;
  json: { endpoint: string; keys: { p256dh: string; auth: string } };
}

export function subscriber(endpoint: string): Subscriber {
  const ecdh = createECDH('prime256v1');
  const pub = ecdh.generateKeys();
  const auth = randomBytes(16);
  return { ecdh, pub, auth, json: { endpoint, keys: { p256dh: b64url(pub), auth: b64url(auth) } } };
}

/** RFC 8291 §3.4 + RFC 8188: the receiver's decryption of a one-record aes128gcm body. Throws when it is not one. */
export function decryptPush(body: Buffer, sub: Subscriber): string {
  const salt = body.subarray(0, 16);
  const idlen = body[20]!;
  const senderPub = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  const secret = sub.ecdh.computeSecret(senderPub);
  const info = Buffer.concat([Buffer.from('WebPush: info\0'), sub.pub, senderPub]);
  const ikm = Buffer.from(hkdfSync('sha256', secret, sub.auth, info, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  const end = padded.lastIndexOf(2); // the last record's delimiter, then zero padding
  if (end < 0 || !padded.subarray(end + 1).every((x) => x === 0)) throw new Error('not a last record: no 0x02 delimiter followed by zero padding');
  return padded.subarray(0, end).toString('utf8');
}

/** Verifies `vapid t=<jwt>, k=<key>` (RFC 8292): ES256 over the JWT with the key given, for `audience`. Throws otherwise. */
export function checkVapid(header: string, audience: string): { key: string; claims: Record<string, unknown> } {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header);
  if (!m) throw new Error(`not a VAPID authorization: ${header.slice(0, 80)}`);
  const [, jwt, key] = m;
  const [h, p, s] = jwt!.split('.');
  const raw = Buffer.from(key!, 'base64url');
  const publicKey: KeyObject = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64url(raw.subarray(1, 33)), y: b64url(raw.subarray(33, 65)) },
    format: 'jwk',
  });
  if (!verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s ?? '', 'base64url')))
    throw new Error('the VAPID JWT signature does not verify with the key it names');
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
  if (claims['aud'] !== audience) throw new Error(`the VAPID JWT is for ${String(claims['aud'])}, not ${audience}`);
  return { key: key!, claims };
}

export interface Received {
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** The status it was answered. */
  answered: number;
}

export interface PushService {
  /** `http://127.0.0.1:<port>` */
  url: string;
  got: Received[];
  /** What it answers; `byPath` overrides for one path (a 410 for one subscription). */
  status: { value: number; byPath: Map<string, number> };
  close(): Promise<void>;
}

/** A stand-in push service on loopback: records each request and answers `status`. */
export async function startPushService(status = 201): Promise<PushService> {
  const got: Received[] = [];
  const answer = { value: status, byPath: new Map<string, number>() };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answered = answer.byPath.get(req.url ?? '') ?? answer.value;
      got.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    got,
    status: answer,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
