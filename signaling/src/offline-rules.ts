// "Host offline for N minutes" (issue 15, docs/alerts.md): the one alert rule a host cannot
// evaluate itself, so the signaling server, which already knows presence, evaluates it. An admin
// device registers rules in the clear (host ids, minutes, a webhook and/or mail recipients); every
// check (15 s) a listed host offline longer than its rule's minutes fires one webhook POST (and one
// mail, sent by the server's mailer, mail.ts), and its return resolves it with another. Rules and
// alert state live in <data-dir>/offline-rules.json (0600).

import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { int, isObj, obj, oneOf, optStr, str, strArray, type Obj } from '../../shared/wire/validate.ts';
import {
  checkAnswer,
  DEFAULT_RETRY,
  isLoopbackAddress,
  PermanentFailure,
  postJson,
  signWebhook,
  withRetries,
  WEBHOOK_FORMATS,
  type RetryPolicy,
  type WebhookTarget,
} from '../../node/webhook.ts';
import { mailRecipients } from '../../shared/alerts/mail-address.ts';
import type { FleetCredentialCheck, FleetMember } from './fleet-credential.ts';
import type { ServerMailer } from './mail.ts';
import { short, type Logger } from './log.ts';
import { createJsonFile, readJsonFile } from './persist.ts';
import { remoteOf } from './peer-gate.ts';
import type { Presence } from './presence.ts';

/** One rule as stored and returned (the secret masked when returned). */
export interface OfflineRule {
  name: string;
  /** Host ids, resolved by the device from a selector when it saved the rule. */
  hosts: string[];
  minutes: number;
  /** At least one of webhook and email. */
  webhook?: WebhookTarget;
  /** Mailed by the server (its --smtp), only to its --mail-allow recipients. */
  email?: { to: string[] };
  /** The admin device that saved it, and when (ms). */
  by: string;
  at: number;
}

/** A host of a rule that is firing: offline since `since`, notified at `firedAt`. */
interface Firing {
  since: number;
  firedAt: number;
}

interface FleetRules {
  rules: OfflineRule[];
  /** rule name → host id → firing alert. */
  firing: Record<string, Record<string, Firing>>;
}

/** Bounds on what a fleet may register. */
export const OFFLINE_LIMITS = { rulesPerFleet: 20, hostsPerRule: 1000, maxMinutes: 10_080, fleets: 10_000 };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HOST_ID = /^[a-z2-7]{52}$/;

/** Options for createOfflineRules; `minuteMs`, `now` and `retry` exist for tests. */
export interface OfflineRulesOptions {
  presence: Presence;
  log: Logger;
  dataDir?: string | undefined;
  /** How often presence is checked (default 15 s). */
  checkEveryMs?: number;
  /** How long a rule's minute lasts (default 60 s; tests make it a second). */
  minuteMs?: number;
  /** Let webhooks go to loopback addresses (tests, a local receiver). */
  allowLoopback?: boolean;
  /** Sends the rules' mail (mail.ts); without it a rule's email fails in the log. */
  mailer?: Pick<ServerMailer, 'send'>;
  retry?: RetryPolicy;
  now?: () => number;
}

/** The offline rules of every fleet and their evaluation. */
export interface OfflineRules {
  list(fleet: string): (OfflineRule & { firing: { host: string; since: number; firedAt: number }[] })[];
  save(fleet: string, rule: OfflineRule): void;
  remove(fleet: string, name: string): boolean;
  /** One evaluation (the timer calls it); resolves when its notifications are handed over, not delivered. */
  check(): void;
  /** Deliveries still under way (tests wait for them). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Checks a webhook URL: http(s), no user info, and not loopback unless allowed. Throws bad-message. */
export function checkWebhookUrl(text: string, allowLoopback: boolean): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FlotillaError('bad-message', 'webhook.url: not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FlotillaError('bad-message', `webhook.url: ${url.protocol} is not http: or https:`);
  if (url.username || url.password)
    throw new FlotillaError('bad-message', 'webhook.url: no user name or password in the URL; sign with webhook.secret instead');
  const host = url.hostname.toLowerCase();
  if (!allowLoopback && (isLoopbackAddress(host) || host === 'localhost' || host.endsWith('.localhost')))
    throw new FlotillaError('bad-message', `webhook.url: ${url.hostname} is this server's own loopback, which offline rules may not call`);
  return url.toString();
}

/**
 * Validates a rule as a device sends it (PUT body); the name comes from the path. `recipients`
 * checks mail addresses against the server's allowlist (when saving; a rule read back from disk
 * keeps its addresses, and one no longer allowed fails when it is sent).
 */
export function parseRuleInput(
  name: string,
  raw: unknown,
  by: string,
  at: number,
  allowLoopback: boolean,
  recipients: (list: string[], field: string) => string[] = mailRecipients,
): OfflineRule {
  if (!NAME.test(name)) throw new FlotillaError('bad-message', 'name: letters, digits, ".", "_" and "-", at most 64, starting with a letter or digit');
  const body = obj(raw, 'body');
  const hosts = [...new Set(strArray(body, 'hosts', OFFLINE_LIMITS.hostsPerRule, 52))];
  if (hosts.length === 0) throw new FlotillaError('bad-message', 'hosts: at least one host id');
  const bad = hosts.find((h) => !HOST_ID.test(h));
  if (bad !== undefined) throw new FlotillaError('bad-message', `hosts: "${bad.slice(0, 60)}" is not a host id (52 base32 characters)`);
  if (body['webhook'] === undefined && body['email'] === undefined)
    throw new FlotillaError('bad-message', 'webhook, email: a rule notifies a webhook, mail recipients or both');
  let webhook: WebhookTarget | undefined;
  if (body['webhook'] !== undefined) {
    const hook = obj(body['webhook'], 'webhook');
    const secret = optStr(hook, 'secret', 256);
    webhook = {
      url: checkWebhookUrl(str(hook, 'url', 2048, 1), allowLoopback),
      format: hook['format'] === undefined ? 'generic' : oneOf(hook, 'format', WEBHOOK_FORMATS),
      ...(secret ? { secret } : {}),
    };
  }
  const email = body['email'] === undefined ? undefined : { to: recipients(strArray(obj(body['email'], 'email'), 'to', 64, 254), 'email.to') };
  return { name, hosts, minutes: int(body, 'minutes', 1, OFFLINE_LIMITS.maxMinutes), ...(webhook ? { webhook } : {}), ...(email ? { email } : {}), by, at };
}

function readFile(raw: unknown, allowLoopback: boolean): Map<string, FleetRules> {
  const fleets = new Map<string, FleetRules>();
  if (!isObj(raw) || raw['v'] !== 1 || !isObj(raw['fleets'])) return fleets;
  for (const [fleet, value] of Object.entries(raw['fleets'])) {
    if (!HOST_ID.test(fleet) || !isObj(value) || !Array.isArray(value['rules'])) continue;
    const rules = value['rules'].flatMap((r: unknown) => {
      try {
        const o = obj(r, 'rule');
        return [parseRuleInput(str(o, 'name', 64), o, str(o, 'by', 52), int(o, 'at'), allowLoopback)];
      } catch {
        return [];
      }
    });
    const firing: FleetRules['firing'] = {};
    const savedFiring = isObj(value['firing']) ? value['firing'] : {};
    for (const rule of rules) {
      const hosts = savedFiring[rule.name];
      if (!isObj(hosts)) continue;
      for (const [host, f] of Object.entries(hosts)) {
        if (rule.hosts.includes(host) && isObj(f) && typeof f['since'] === 'number' && typeof f['firedAt'] === 'number')
          (firing[rule.name] ??= {})[host] = { since: f['since'], firedAt: f['firedAt'] };
      }
    }
    fleets.set(fleet, { rules, firing });
  }
  return fleets;
}

/** The one line a person reads (a webhook's text, a mail's subject). */
export function offlineText(rule: OfflineRule, event: 'firing' | 'resolved', host: string, since: number, at: number): string {
  const mins = Math.max(0, Math.round((at - since) / 60_000));
  return event === 'firing'
    ? `[FIRING] ${rule.name}: host ${host.slice(0, 8)} offline for ${mins} min (more than ${rule.minutes})`
    : `[RESOLVED] ${rule.name}: host ${host.slice(0, 8)} back online after ${mins} min offline`;
}

/** The body a webhook receives, in the rule's format (generic without a webhook: a mail's JSON part). */
export function offlineBody(rule: OfflineRule, event: 'firing' | 'resolved', host: string, since: number, at: number): string {
  const text = offlineText(rule, event, host, since, at);
  const format = rule.webhook?.format ?? 'generic';
  if (format === 'dingtalk') return JSON.stringify({ msgtype: 'markdown', markdown: { title: `${rule.name} ${event}`, text } });
  if (format === 'slack')
    return JSON.stringify({
      text,
      attachments: [{ color: event === 'firing' ? 'danger' : 'good', fallback: text, fields: [{ title: 'Host', value: host, short: false }] }],
    });
  return JSON.stringify({ version: 1, kind: 'offline', event, status: event, rule: rule.name, host: { id: host }, minutes: rule.minutes, since, at, text });
}

/** Creates the rules, restored from <dataDir>/offline-rules.json, and starts checking. */
export async function createOfflineRules(options: OfflineRulesOptions): Promise<OfflineRules> {
  const { presence, log } = options;
  const now = options.now ?? Date.now;
  const minuteMs = options.minuteMs ?? 60_000;
  const allowLoopback = options.allowLoopback === true;
  const startedAt = now();
  const fleets = readFile(await readJsonFile(options.dataDir, 'offline-rules.json', log), allowLoopback);
  const file = createJsonFile({
    dir: options.dataDir,
    name: 'offline-rules.json',
    log,
    debounceMs: 200,
    snapshot: () => ({ v: 1, fleets: Object.fromEntries(fleets) }),
  });
  const deliveries = new Set<Promise<void>>();

  const track = (delivery: Promise<void>): void => {
    deliveries.add(delivery);
    void delivery.finally(() => deliveries.delete(delivery));
  };

  const mail = (fleet: string, rule: OfflineRule, to: string[], event: 'firing' | 'resolved', host: string, since: number, at: number): void => {
    const subject = offlineText(rule, event, host, since, at);
    const { webhook: _hook, ...plain } = rule;
    const text = `${subject}\n\n${JSON.stringify(JSON.parse(offlineBody(plain, event, host, since, at)), null, 2)}\n`;
    const { mailer } = options;
    const delivery = withRetries(async () => {
      if (!mailer) throw new PermanentFailure('this server has no mailer');
      await mailer.send({ to, subject, text, headers: { 'X-Flotilla-Event': event, 'X-Flotilla-Rule': rule.name, 'X-Flotilla-Fleet': fleet } });
    }, options.retry ?? DEFAULT_RETRY).then((outcome) => {
      const fields = { fleet: short(fleet), rule: rule.name, host: short(host), notification: event, channel: 'email', to, attempts: outcome.attempts };
      if (outcome.ok) log.info('offline.notified', fields);
      else log.warn('offline.notify-failed', { ...fields, error: outcome.error });
    });
    track(delivery);
  };

  const notify = (fleet: string, rule: OfflineRule, event: 'firing' | 'resolved', host: string, since: number, at: number): void => {
    if (rule.email) mail(fleet, rule, rule.email.to, event, host, since, at);
    const hook = rule.webhook;
    if (!hook) return;
    const body = offlineBody(rule, event, host, since, at);
    const refuse = allowLoopback ? undefined : isLoopbackAddress;
    const delivery = withRetries(async () => {
      const signed = signWebhook(hook, body, now());
      const answer = await postJson(signed.url, { 'user-agent': 'flotilla-signal', 'x-flotilla-event': event, ...signed.headers }, body, {
        timeoutMs: (options.retry ?? DEFAULT_RETRY).timeoutMs,
        ...(refuse ? { refuse } : {}),
      });
      checkAnswer(answer.status);
      if (hook.format === 'dingtalk') {
        const code = /"errcode"\s*:\s*(\d+)/.exec(answer.text)?.[1];
        if (code !== undefined && code !== '0') throw new Error(`DingTalk errcode ${code}`);
      }
    }, options.retry ?? DEFAULT_RETRY).then((outcome) => {
      const fields = { fleet: short(fleet), rule: rule.name, host: short(host), notification: event, channel: 'webhook', attempts: outcome.attempts };
      if (outcome.ok) log.info('offline.notified', fields);
      else log.warn('offline.notify-failed', { ...fields, error: outcome.error });
    });
    track(delivery);
  };

  const check = (): void => {
    const t = now();
    let changed = false;
    for (const [fleet, entry] of fleets) {
      const seen = new Map(presence.list(fleet).map((p) => [p.id, p]));
      for (const rule of entry.rules) {
        const firing = (entry.firing[rule.name] ??= {});
        for (const host of rule.hosts) {
          const p = seen.get(host);
          const alert = firing[host];
          if (p?.online) {
            if (alert) {
              delete firing[host];
              changed = true;
              log.info('offline.resolved', { fleet: short(fleet), rule: rule.name, host: short(host) });
              notify(fleet, rule, 'resolved', host, alert.since, t);
            }
            continue;
          }
          if (alert) continue;
          // Offline since it was last seen; never before this server started (it could not see the
          // time it was down) nor, for a host it never saw, before the rule was saved.
          const since = Math.max(p?.lastSeen ?? rule.at, startedAt);
          if (t - since < rule.minutes * minuteMs) continue;
          firing[host] = { since, firedAt: t };
          changed = true;
          log.info('offline.firing', { fleet: short(fleet), rule: rule.name, host: short(host), offlineMs: t - since });
          notify(fleet, rule, 'firing', host, since, t);
        }
      }
    }
    if (changed) file.touch();
  };

  const timer = setInterval(check, options.checkEveryMs ?? 15_000);
  timer.unref();

  return {
    list(fleet) {
      const entry = fleets.get(fleet);
      return (entry?.rules ?? []).map((r) => ({
        ...r,
        firing: Object.entries(entry?.firing[r.name] ?? {}).map(([host, f]) => ({ host, ...f })),
      }));
    },
    save(fleet, rule) {
      let entry = fleets.get(fleet);
      if (!entry) {
        if (fleets.size >= OFFLINE_LIMITS.fleets)
          throw new FlotillaError('quota', `this server keeps offline rules for at most ${OFFLINE_LIMITS.fleets} fleets`);
        entry = { rules: [], firing: {} };
        fleets.set(fleet, entry);
      }
      const others = entry.rules.filter((r) => r.name !== rule.name);
      if (others.length >= OFFLINE_LIMITS.rulesPerFleet)
        throw new FlotillaError('quota', `a fleet has at most ${OFFLINE_LIMITS.rulesPerFleet} offline rules; remove one first`);
      entry.rules = [...others, rule];
      // Hosts no longer listed end their alerts quietly, as a deleted rule does.
      const firing = entry.firing[rule.name] ?? {};
      for (const host of Object.keys(firing)) if (!rule.hosts.includes(host)) delete firing[host];
      file.touch();
    },
    remove(fleet, name) {
      const entry = fleets.get(fleet);
      if (!entry?.rules.some((r) => r.name === name)) return false;
      entry.rules = entry.rules.filter((r) => r.name !== name);
      delete entry.firing[name];
      if (entry.rules.length === 0) fleets.delete(fleet);
      file.touch();
      return true;
    },
    check,
    async idle() {
      while (deliveries.size > 0) await Promise.all([...deliveries]);
    },
    async close() {
      clearInterval(timer);
      await file.flush();
    },
  };
}

const masked = <T extends { webhook?: WebhookTarget | undefined }>(rule: T): T =>
  rule.webhook ? { ...rule, webhook: { ...rule.webhook, ...(rule.webhook.secret ? { secret: '***' } : {}) } } : rule;

type Handler = (req: Request, res: Response) => Promise<void>;
const route = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => void handler(req, res).catch(next);

/** `GET /api/offline-rules`, `PUT` and `DELETE /api/offline-rules/:name`: admin devices of the fleet only. */
export function createOfflineRouter(
  rules: OfflineRules,
  deps: {
    log: Logger;
    checkMember: FleetCredentialCheck;
    limited: express.RequestHandler;
    allowLoopback: boolean;
    maxJsonBody: number;
    /** Checks a rule's mail recipients against the server's allowlist (mail.ts); without it, email is refused. */
    recipients?: (list: string[], field: string) => string[];
  },
): Router {
  const router = express.Router();
  const admin = async (req: Request): Promise<FleetMember> => {
    const member = await deps.checkMember(req.get('authorization'), { agents: false });
    if (member.role !== 'admin')
      throw new FlotillaError(
        'forbidden',
        `offline rules need an admin device; this device is ${member.role === 'operator' ? 'an operator' : `a ${member.role ?? 'viewer'}`}`,
      );
    return member;
  };
  const nameOf = (req: Request): string => {
    const name = req.params['name'] ?? '';
    if (!NAME.test(name)) throw new FlotillaError('bad-message', 'name: letters, digits, ".", "_" and "-", at most 64, starting with a letter or digit');
    return name;
  };

  router.get(
    '/api/offline-rules',
    deps.limited,
    route(async (req, res) => {
      const member = await admin(req);
      res.json({ fleet: member.fleet, now: Date.now(), rules: rules.list(member.fleet).map(masked) });
    }),
  );
  router.put(
    '/api/offline-rules/:name',
    deps.limited,
    express.json({ limit: deps.maxJsonBody }),
    route(async (req, res) => {
      const member = await admin(req);
      const recipients =
        deps.recipients ??
        (() => {
          throw new FlotillaError('unsupported', 'this signaling server sends no mail');
        });
      const rule = parseRuleInput(nameOf(req), req.body as Obj, member.id, Date.now(), deps.allowLoopback, recipients);
      rules.save(member.fleet, rule);
      deps.log.info('offline.saved', {
        fleet: short(member.fleet),
        by: short(member.id),
        rule: rule.name,
        hosts: rule.hosts.length,
        minutes: rule.minutes,
        ...(rule.email ? { mailTo: rule.email.to.length } : {}),
        remote: remoteOf(req),
      });
      res.json({ saved: masked(rule) });
    }),
  );
  router.delete(
    '/api/offline-rules/:name',
    deps.limited,
    route(async (req, res) => {
      const member = await admin(req);
      const name = nameOf(req);
      if (!rules.remove(member.fleet, name)) {
        res.status(404).json({ error: { code: 'no-match', message: `This fleet has no offline rule named ${name}.` } });
        return;
      }
      deps.log.info('offline.removed', { fleet: short(member.fleet), by: short(member.id), rule: name, remote: remoteOf(req) });
      res.json({ removed: name });
    }),
  );
  return router;
}
