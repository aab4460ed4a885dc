// The HTTP API beside the PeerJS socket: ICE servers, health, presence for a fleet's devices,
// and revocation lists. Every error answers `{ error: { code, message } }` with a Flotilla code.

import { isIPv6 } from 'node:net';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { FlotillaError, type ErrorCode } from '../../shared/wire/errors.ts';
import { verifyPeerCredential } from '../../shared/identity/tokens.ts';
import { createFleetCredentialCheck } from './fleet-credential.ts';
import { obj, str } from '../../shared/wire/validate.ts';
import { createKeyedLimiter, type Limits } from './limits.ts';
import { errorText, short, type Logger } from './log.ts';
import { remoteOf } from './peer-gate.ts';
import type { Presence } from './presence.ts';
import type { RevocationStore } from './revocations.ts';
import { createStoreRouter, type StoreRouteDeps } from './store/routes.ts';
import type { RecordStore } from './store/types.ts';
import { issueTurnCredential, type TurnOptions } from './turn.ts';
import { createPushRouter, type PushOptions } from './push.ts';
import { createOfflineRouter, type OfflineRules } from './offline-rules.ts';
import { createMailRouter, type MailOptions, type ServerMailer } from './mail.ts';

/** What the API reads from the rest of the server. */
export interface ApiDeps {
  limits: Limits;
  log: Logger;
  presence: Presence;
  revocations: RevocationStore;
  stunPort: () => number;
  /** TURN credentials to hand to authenticated peers; without it /api/ice offers STUN only. */
  turn?: TurnOptions;
  health: () => { version: string; uptimeS: number; peers: number; agentsOnline: number };
  /** The sealed store and who to tell about new records. */
  store: RecordStore;
  onStored: StoreRouteDeps['onStored'];
  /** The Web Push relay (push.ts). */
  push?: PushOptions;
  /** "Host offline for N minutes" rules (offline-rules.ts), and whether their webhooks may go to loopback. */
  offline?: { rules: OfflineRules; allowLoopback: boolean };
  /** Mail from the server (mail.ts); without it GET /api/mail says mail is off. */
  mail?: { mailer: ServerMailer; options: MailOptions };
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  'bad-message': 400,
  'too-large': 413,
  'bad-token': 401,
  'not-in-fleet': 403,
  'cert-expired': 403,
  'cert-revoked': 403,
  forbidden: 403,
  conflict: 409,
  quota: 413,
  'rate-limited': 429,
  unsupported: 501,
};
const FLEET_ID = /^[a-z2-7]{52}$/;
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

/** The STUN host for a request: the Host header without its port, IPv6 in brackets; `fallback` if unusable. */
export function iceHost(hostHeader: string | undefined, fallback: string): string {
  const header = (hostHeader ?? '').trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(header);
  let host = bracketed ? (bracketed[1] ?? '') : header.replace(/:\d+$/, '');
  if (!bracketed && isIPv6(header)) host = header; // a bare IPv6 Host header has no port to strip
  if (isIPv6(host)) return `[${host}]`;
  if (HOSTNAME.test(host)) return host;
  const local = fallback.replace(/^::ffff:/, '');
  return isIPv6(local) ? `[${local}]` : local;
}

function sendError(res: Response, error: unknown): void {
  const e = error instanceof FlotillaError ? error : new FlotillaError('internal');
  if (!res.headersSent) res.status(STATUS[e.code] ?? 500).json({ error: { code: e.code, message: e.message } });
}

/** 404 in the API's error shape; Flotilla has no "not found" code, so `no-match` with its own sentence. */
function notFound(res: Response, message: string): void {
  res.status(404).json({ error: { code: 'no-match', message } });
}

type Handler = (req: Request, res: Response) => Promise<void>;
/** Express 4 ignores rejected promises; route them to the error handler. */
const route = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => void handler(req, res).catch(next);

/** Builds the API router; mount it before static files and PeerServer. */
export function createApiRouter(deps: ApiDeps): Router {
  const { log, presence, revocations } = deps;
  const router = express.Router();
  const checkMember = createFleetCredentialCheck(revocations);
  const apiLimiter = createKeyedLimiter(deps.limits.apiPerSecondPerIp, deps.limits.apiBurstPerIp);
  const limited = (req: Request, _res: Response, next: NextFunction): void =>
    next(apiLimiter.allow(remoteOf(req)) ? undefined : new FlotillaError('rate-limited'));

  // No cookies are involved (credentials travel in a header), so any origin may call the API.
  router.use('/api', (req, res, next) => {
    res.set({
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Headers': 'Authorization, Content-Type',
      'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE',
    });
    if (req.method === 'OPTIONS') res.sendStatus(204);
    else next();
  });

  router.get('/healthz', (_req, res) => void res.json({ ok: true, ...deps.health() }));

  // STUN for everyone. TURN only for a peer that proves its id with a register credential
  // (agent or device): the relay costs bandwidth, so anonymous callers get none. A missing or
  // bad credential is not an error here, it just earns no TURN entry (the caller still needs STUN).
  // Verifying a credential costs an RSA check, so only those calls count against the API limit.
  const limitedIfAuthenticated = (req: Request, res: Response, next: NextFunction): void =>
    deps.turn && req.get('authorization') !== undefined ? limited(req, res, next) : next();
  router.get(
    '/api/ice',
    limitedIfAuthenticated,
    route(async (req, res) => {
      const host = iceHost(req.headers.host, req.socket.localAddress ?? '127.0.0.1');
      const iceServers: object[] = [{ urls: `stun:${host}:${deps.stunPort()}` }];
      const { turn } = deps;
      const header = req.get('authorization');
      if (turn && header !== undefined) {
        const match = /^Flotilla\s+(\S+)$/.exec(header);
        try {
          if (!match?.[1]) throw new FlotillaError('bad-token', 'send "Authorization: Flotilla <register credential>"');
          const credential = await verifyPeerCredential(match[1], { purpose: 'register' });
          const issued = await issueTurnCredential(turn, credential.id);
          iceServers.push({ urls: issued.urls, username: issued.username, credential: issued.credential });
          log.info('ice.turn-issued', { peer: short(credential.id), kind: credential.kind, remote: remoteOf(req), expiresAt: issued.expiresAt });
        } catch (error) {
          const code = error instanceof FlotillaError ? error.code : 'internal';
          log.warn('ice.turn-refused', { remote: remoteOf(req), code, detail: error instanceof FlotillaError ? error.detail : errorText(error) });
        }
      }
      res.json({ iceServers });
    }),
  );

  router.use(createPushRouter(deps.push ?? {}, { log, checkMember, limited }));
  if (deps.mail) router.use(createMailRouter(deps.mail.mailer, deps.mail.options, { log, checkMember, limited }));
  if (deps.offline)
    router.use(
      createOfflineRouter(deps.offline.rules, {
        log,
        checkMember,
        limited,
        allowLoopback: deps.offline.allowLoopback,
        maxJsonBody: deps.limits.maxJsonBody,
        ...(deps.mail ? { recipients: deps.mail.mailer.recipients } : {}),
      }),
    );

  router.get(
    '/api/presence',
    limited,
    route(async (req, res) => {
      const credential = await checkMember(req.get('authorization'), { agents: false });
      const agents = presence.list(credential.fleet);
      log.info('presence.read', { device: short(credential.id), fleet: short(credential.fleet), remote: remoteOf(req), agents: agents.length });
      res.json({ fleet: credential.fleet, now: Date.now(), agents });
    }),
  );

  router.post(
    '/api/revocation',
    limited,
    express.json({ limit: deps.limits.maxJsonBody }),
    route(async (req, res) => {
      const body = obj(req.body, 'body');
      const result = await revocations.offer(body['list'], str(body, 'fleetPub', 1200, 1), remoteOf(req));
      res.json(result);
    }),
  );

  router.get('/api/revocation/:fleet', (req, res) => {
    const fleet = req.params['fleet'] ?? '';
    if (!FLEET_ID.test(fleet)) return sendError(res, new FlotillaError('bad-message', 'not a fleet id'));
    const list = revocations.get(fleet);
    if (list) res.json(list);
    else notFound(res, `This server holds no revocation list for fleet ${short(fleet) ?? ''}.`);
  });

  router.use(createStoreRouter({ store: deps.store, limits: deps.limits, log, checkMember, onStored: deps.onStored }));

  router.use('/api', (req, res) => notFound(res, `There is no API route ${req.method} /api${req.path}.`));

  router.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!req.path.startsWith('/api/') && req.path !== '/healthz') return next(error);
    // body-parser errors carry `type` (entity.too.large, entity.parse.failed).
    const type = (error as { type?: unknown }).type;
    const mapped =
      error instanceof FlotillaError
        ? error
        : type === 'entity.too.large'
          ? new FlotillaError('too-large', `request body over ${deps.limits.maxJsonBody} bytes`)
          : type === 'entity.parse.failed'
            ? new FlotillaError('bad-message', 'request body is not JSON')
            : type === 'charset.unsupported' || type === 'encoding.unsupported'
              ? new FlotillaError('bad-message', 'request body must be JSON in UTF-8, without a content encoding')
              : new FlotillaError('internal');
    if (mapped.code === 'internal') log.error('api.failed', { path: req.path, error: errorText(error) });
    else log.warn('api.refused', { path: req.path, remote: remoteOf(req), code: mapped.code, detail: mapped.detail });
    sendError(res, mapped);
  });
  return router;
}
