// The store's HTTP routes: PUT a record, list what is new for the caller, a fleet's usage.
// Every call presents a fleet credential (device or accepted agent); errors go to the API's
// error handler, which answers `{ error: { code, message } }`.

import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import type { FleetCredentialCheck, FleetMember } from '../fleet-credential.ts';
import { addressKey, createKeyedLimiter, type Limits } from '../limits.ts';
import { short, type Logger } from '../log.ts';
import { remoteOf } from '../peer-gate.ts';
import type { RecordStore, StoredRecord } from './types.ts';
import { readListQuery, readPutBody, readRid } from './validate.ts';

/** A list page stops adding records once their bodies reach this many bytes. */
export const LIST_PAGE_BYTES = 4 * 1024 * 1024;
const FLEET_ID = /^[a-z2-7]{52}$/;

/** What the store routes need from the server. */
export interface StoreRouteDeps {
  store: RecordStore;
  limits: Limits;
  log: Logger;
  /** The fleet credential check shared with presence. */
  checkMember: FleetCredentialCheck;
  /** A record was stored: tell the fleet's connected recipients. */
  onStored: (stored: { fleet: string; seq: number; to: string[] }) => void;
}

type Handler = (req: Request, res: Response) => Promise<void>;
const route = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => void handler(req, res).catch(next);

function wire(r: StoredRecord): object {
  return {
    rid: r.rid,
    kind: r.kind,
    version: r.version,
    to: r.to,
    exp: r.exp,
    by: r.by,
    seq: r.seq,
    size: r.size,
    at: r.at,
    body: Buffer.from(r.body).toString('base64'),
  };
}

/** Builds the router for /api/store; mount it inside the API router (before its 404 and error handler). */
export function createStoreRouter(deps: StoreRouteDeps): Router {
  const { store, limits, log, checkMember } = deps;
  const router = express.Router();
  const perAddress = createKeyedLimiter(limits.storeRequestsPerSecondPerIp, limits.storeRequestBurstPerIp);
  const perFleet = createKeyedLimiter(limits.storeWritesPerSecond, limits.storeWriteBurst);
  // A base64 body of storeMaxBody bytes, plus up to 1000 recipients and the other fields.
  const jsonLimit = Math.ceil(limits.storeMaxBody / 3) * 4 + 64 * 1024;
  const json = express.json({ limit: jsonLimit });
  const quota = { maxRecords: limits.storeMaxRecords, maxBytes: limits.storeMaxBytes };

  const limited = (req: Request, _res: Response, next: NextFunction): void =>
    next(perAddress.allow(addressKey(remoteOf(req))) ? undefined : new FlotillaError('rate-limited', 'store requests from your address'));

  /** Verifies the credential and that it is for the fleet in the URL; leaves the member in res.locals. */
  const verifyMember = async (req: Request): Promise<FleetMember> => {
    const fleet = req.params['fleet'] ?? '';
    if (!FLEET_ID.test(fleet)) throw new FlotillaError('bad-message', 'fleet: not a fleet id');
    const who = await checkMember(req.get('authorization'), { agents: true });
    if (who.fleet !== fleet) throw new FlotillaError('not-in-fleet', `the credential is for fleet ${short(who.fleet) ?? ''}, not ${short(fleet) ?? ''}`);
    return who;
  };
  const authenticated = (req: Request, res: Response, next: NextFunction): void =>
    void verifyMember(req).then((who) => {
      res.locals['member'] = who;
      next();
    }, next);
  const memberOf = (res: Response): FleetMember => res.locals['member'] as FleetMember;

  const writeLimited = (req: Request, _res: Response, next: NextFunction): void =>
    next(
      perFleet.allow(req.params['fleet'] ?? '')
        ? undefined
        : new FlotillaError('rate-limited', `fleet store writes: ${limits.storeWritesPerSecond} per second, burst ${limits.storeWriteBurst}`),
    );

  router.put(
    '/api/store/:fleet/:rid',
    limited,
    authenticated,
    writeLimited,
    json,
    route(async (req, res) => {
      const who = memberOf(res);
      const rid = readRid(req.params['rid']);
      const now = Date.now();
      const record = readPutBody(req.body, { maxBody: limits.storeMaxBody, maxTtlMs: limits.storeMaxTtlMs }, now);
      const stored = await store.put({ ...record, fleet: who.fleet, rid, by: who.id }, quota, now);
      log.debug('store.put', {
        fleet: short(who.fleet),
        by: short(who.id),
        kind: record.kind,
        version: stored.version,
        seq: stored.seq,
        size: record.body.length,
      });
      res.json(stored);
      deps.onStored({ fleet: who.fleet, seq: stored.seq, to: record.to });
    }),
  );

  router.get(
    '/api/store/:fleet/stats',
    limited,
    authenticated,
    route(async (_req, res) => {
      const stats = await store.stats(memberOf(res).fleet, Date.now());
      res.json({ ...stats, limits: { records: limits.storeMaxRecords, bytes: limits.storeMaxBytes, ttlMs: limits.storeMaxTtlMs } });
    }),
  );

  router.get(
    '/api/store/:fleet',
    limited,
    authenticated,
    route(async (req, res) => {
      const who = memberOf(res);
      const { since, limit } = readListQuery(req.query);
      const page = await store.list({
        fleet: who.fleet,
        reader: who.id,
        readerIsDevice: who.kind === 'device',
        since,
        limit,
        maxBytes: LIST_PAGE_BYTES,
        now: Date.now(),
      });
      log.debug('store.list', { fleet: short(who.fleet), reader: short(who.id), since, records: page.records.length, more: page.more });
      res.json({ records: page.records.map(wire), next: page.next, more: page.more });
    }),
  );

  // The API's handler would name its own JSON limit: name the store's.
  router.use('/api/store', (error: unknown, _req: Request, _res: Response, next: NextFunction) => {
    const type = (error as { type?: unknown }).type;
    next(type === 'entity.too.large' ? new FlotillaError('too-large', `store request body over ${jsonLimit} bytes`) : error);
  });
  return router;
}
