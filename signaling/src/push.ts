// Web Push relay (issue 15, docs/alerts.md "Web Push"): an agent whose alert fires, or a device,
// hands the server a message already encrypted for one browser's push subscription (RFC 8291,
// aes128gcm, done by the sender with the subscription's keys); the server adds its VAPID
// signature (RFC 8292) and forwards it to the push service. The server never holds a
// subscription's keys, so it cannot read a payload: it learns the endpoint, the size and when.
//
// VAPID keys live in <data dir>/vapid.json (0600), made on first use; without a data directory
// they last as long as the process (subscriptions made against them then break on restart: said
// in the log). Push services are an allowlist of HTTPS hosts (the browsers' own services), so the
// relay cannot be aimed at an internal address; `--push-allow-loopback` adds http://127.0.0.1
// and [::1] for tests and a local stand-in.

import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { fromBase64 } from '../../shared/wire/encoding.ts';
import { obj, oneOf, optInt, optStr, str } from '../../shared/wire/validate.ts';
import type { FleetCredentialCheck } from './fleet-credential.ts';
import { createKeyedLimiter } from './limits.ts';
import { short, type Logger } from './log.ts';
import { remoteOf } from './peer-gate.ts';

/** The browsers' push services (Chrome/Edge on Android and desktop, Firefox, Safari, Windows). */
export const PUSH_SERVICES: readonly RegExp[] = [
  /^fcm\.googleapis\.com$/,
  /^android\.googleapis\.com$/,
  /^updates\.push\.services\.mozilla\.com$/,
  /^(?:[a-z0-9-]+\.)*push\.apple\.com$/,
  /^(?:[a-z0-9-]+\.)*notify\.windows\.com$/,
];

/** A push service takes at most 4096 bytes of body (RFC 8291 §4 and the services' limits). */
export const MAX_PUSH_BYTES = 4096;
const URGENCIES = ['very-low', 'low', 'normal', 'high'] as const;
/** Four weeks, the longest TTL services keep a message. */
const MAX_TTL_S = 2_419_200;

export interface PushOptions {
  dataDir?: string | undefined;
  /** Also forward to http://127.0.0.1 and http://[::1] (tests, a local stand-in for a push service). */
  allowLoopback?: boolean;
  /** The VAPID subject push services may contact (`mailto:` or `https:`). */
  subject?: string;
  /** Sends per second per fleet (burst ×5). */
  perFleetPerSecond?: number;
  fetch?: typeof fetch;
}

interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

type WebPush = typeof import('web-push');
let webPush: Promise<WebPush> | undefined;
/** web-push (VAPID signing) is loaded when the first message is sent. */
const loadWebPush = () => (webPush ??= import('web-push').then((m) => ((m as { default?: WebPush }).default ?? m) as WebPush));

async function loadKeys(dataDir: string | undefined, log: Logger): Promise<VapidKeys> {
  const path = dataDir ? join(dataDir, 'vapid.json') : undefined;
  if (path) {
    try {
      const saved = JSON.parse(await readFile(path, 'utf8')) as Partial<VapidKeys>;
      if (typeof saved.publicKey === 'string' && typeof saved.privateKey === 'string') return { publicKey: saved.publicKey, privateKey: saved.privateKey };
      log.warn('push.vapid-unreadable', { path });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('push.vapid-unreadable', { path, error: String(error) });
    }
  }
  const keys = (await loadWebPush()).generateVAPIDKeys();
  if (path && dataDir) {
    await mkdir(dataDir, { recursive: true });
    await writeFile(`${path}.tmp`, JSON.stringify(keys) + '\n', { mode: 0o600 });
    await chmod(`${path}.tmp`, 0o600);
    await rename(`${path}.tmp`, path);
    log.info('push.vapid-created', { path });
  } else log.warn('push.vapid-ephemeral', { reason: 'no --data-dir: push subscriptions made now stop working when the server restarts' });
  return keys;
}

/** Checks a push endpoint: HTTPS on a known push service, or loopback HTTP when allowed. */
export function checkEndpoint(endpoint: string, allowLoopback: boolean): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new FlotillaError('bad-message', 'endpoint: not a URL');
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (allowLoopback && loopback && (url.protocol === 'http:' || url.protocol === 'https:')) return url;
  if (url.protocol !== 'https:' || url.username || url.password || !PUSH_SERVICES.some((p) => p.test(url.hostname)))
    throw new FlotillaError('bad-message', `endpoint: ${url.protocol}//${url.hostname} is not a browser push service this server forwards to`);
  return url;
}

type Handler = (req: Request, res: Response) => Promise<void>;
const route = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => void handler(req, res).catch(next);

/** `GET /api/push/key` (the VAPID public key browsers subscribe with) and `POST /api/push` (forward one message). */
export function createPushRouter(options: PushOptions, deps: { log: Logger; checkMember: FleetCredentialCheck; limited: express.RequestHandler }): Router {
  const { log, checkMember } = deps;
  const router = express.Router();
  let keys: Promise<VapidKeys> | undefined;
  const vapid = () => (keys ??= loadKeys(options.dataDir, log));
  const perFleet = createKeyedLimiter(options.perFleetPerSecond ?? 10, (options.perFleetPerSecond ?? 10) * 5);
  const send = options.fetch ?? fetch;
  const subject = options.subject ?? 'mailto:flotilla@localhost';

  router.get(
    '/api/push/key',
    route(async (_req, res) => {
      res.json({ publicKey: (await vapid()).publicKey });
    }),
  );

  router.post(
    '/api/push',
    deps.limited,
    express.json({ limit: 16 * 1024 }),
    route(async (req, res) => {
      const member = await checkMember(req.get('authorization'), { agents: true });
      if (!perFleet.allow(member.fleet)) throw new FlotillaError('rate-limited', `push messages: ${options.perFleetPerSecond ?? 10} per second per fleet`);
      const body = obj(req.body, 'body');
      const url = checkEndpoint(str(body, 'endpoint', 2048, 1), options.allowLoopback === true);
      const payload = fromBase64(str(body, 'payload', Math.ceil((MAX_PUSH_BYTES * 4) / 3) + 4, 1));
      if (!payload) throw new FlotillaError('bad-message', 'payload: not base64');
      if (payload.length > MAX_PUSH_BYTES)
        throw new FlotillaError('too-large', `payload: ${payload.length} bytes, a push message carries at most ${MAX_PUSH_BYTES}`);
      // An aes128gcm body starts with its 86-byte header (salt, record size, key id length 65, key): a plaintext payload is refused.
      if (payload.length < 86 + 17 || payload[20] !== 65)
        throw new FlotillaError('bad-message', 'payload: not an RFC 8291 aes128gcm message (encrypt it for the subscription first)');
      const ttl = optInt(body, 'ttl', 0, MAX_TTL_S) ?? 86_400;
      const urgency = body['urgency'] === undefined ? 'normal' : oneOf(body, 'urgency', URGENCIES);
      const topic = optStr(body, 'topic', 32);
      if (topic !== undefined && !/^[A-Za-z0-9_-]+$/.test(topic)) throw new FlotillaError('bad-message', 'topic: letters, digits, - and _ (at most 32)');
      const k = await vapid();
      const signed = (await loadWebPush()).getVapidHeaders(url.origin, subject, k.publicKey, k.privateKey, 'aes128gcm');
      const started = Date.now();
      let status: number;
      try {
        const answer = await send(url, {
          method: 'POST',
          headers: {
            Authorization: signed.Authorization,
            TTL: String(ttl),
            Urgency: urgency,
            ...(topic === undefined ? {} : { Topic: topic }),
            'Content-Encoding': 'aes128gcm',
            'Content-Type': 'application/octet-stream',
          },
          body: new Uint8Array(payload),
          redirect: 'error',
          signal: AbortSignal.timeout(10_000),
        });
        status = answer.status;
        await answer.arrayBuffer().catch(() => undefined);
      } catch (error) {
        log.warn('push.failed', { fleet: short(member.fleet), by: short(member.id), origin: url.origin, error: (error as Error).message });
        res.status(502).json({ error: { code: 'unreachable', message: `the push service ${url.origin} could not be reached: ${(error as Error).message}` } });
        return;
      }
      // 404 and 410: the subscription is gone (the browser unsubscribed); the sender should forget it.
      const gone = status === 404 || status === 410;
      log.info('push.sent', {
        fleet: short(member.fleet),
        by: short(member.id),
        kind: member.kind,
        origin: url.origin,
        status,
        bytes: payload.length,
        ms: Date.now() - started,
        remote: remoteOf(req),
      });
      res.json({ status, gone, accepted: status >= 200 && status < 300 });
    }),
  );
  return router;
}
