// Mail from the signaling server (issue 15, docs/alerts.md "Mail from the server"): an operator
// who gives the server an SMTP relay (--smtp, --mail-from) and names who may be mailed
// (--mail-allow) lets a fleet's hosts and devices send alert mail through it (`POST /api/mail`),
// so hosts need no SMTP credentials, and lets offline rules mail too. Without --mail-allow nobody
// is mailed: a host, or anyone who made a fleet on an open server, must not be able to make the
// server mail arbitrary people. The server reads what it sends, as any SMTP relay does, and logs
// who sent to whom, never the subject or the body. nodemailer is loaded with the first mail.

import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { FlotillaError, type ErrorCode } from '../../shared/wire/errors.ts';
import { obj, str, strArray } from '../../shared/wire/validate.ts';
import {
  isMailAddress,
  mailRecipients,
  MAX_MAIL_SUBJECT,
  MAX_MAIL_TEXT,
  MAX_SERVER_MAIL_RECIPIENTS,
  type RelayMail,
} from '../../shared/alerts/mail-address.ts';
import { PermanentFailure } from '../../node/webhook.ts';
import type { FleetCredentialCheck, FleetMember } from './fleet-credential.ts';
import { createKeyedLimiter } from './limits.ts';
import { errorText, short, type Logger } from './log.ts';
import { remoteOf } from './peer-gate.ts';

/** Where the server sends mail: an SMTP server, TLS from the start (smtps:) or STARTTLS when offered. */
export interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  user?: string;
  pass?: string;
}

export interface MailOptions {
  smtp?: SmtpSettings | undefined;
  /** The envelope and header From of every mail. */
  from?: string | undefined;
  /** Recipients the server mails: `example.com` (any address at that domain) or `oncall@example.com`. */
  allow?: readonly string[] | undefined;
  /** Mails per minute per fleet (burst: as many). Default 30. */
  perFleetPerMinute?: number;
  /** Per SMTP connection step. Default 10 s. */
  timeoutMs?: number;
}

/** One mail the server sends: recipients checked by `recipients()` first. */
export interface OutgoingMail {
  to: string[];
  subject: string;
  text: string;
  headers?: Record<string, string>;
}

export interface ServerMailer {
  /** True with --smtp, --mail-from and at least one --mail-allow entry. */
  readonly enabled: boolean;
  /** Why mail is off, for GET /api/mail and the refusals. */
  readonly off: string | undefined;
  /** Checks addresses (syntax, count, allowlist); the error names `field` and the address. */
  recipients(list: readonly string[], field: string): string[];
  /** Sends one mail. Throws PermanentFailure when the SMTP server refused it for good (5xx), Error otherwise. */
  send(mail: OutgoingMail): Promise<{ response: string }>;
  close(): void;
}

/** Parses `smtp://user:pass@host:port` or `smtps://…` (user and password URL-encoded). Throws bad-config. */
export function parseSmtpUrl(text: string): SmtpSettings {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FlotillaError('bad-config', '--smtp must be a URL such as smtp://user:pass@mail.example.com:587 or smtps://mail.example.com');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')
    throw new FlotillaError('bad-config', `--smtp must start with smtp:// (STARTTLS when offered) or smtps:// (TLS), not ${url.protocol}//`);
  if (!url.hostname) throw new FlotillaError('bad-config', '--smtp names no host');
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash)
    throw new FlotillaError('bad-config', '--smtp takes no path or query: smtp://user:pass@host:port');
  const secure = url.protocol === 'smtps:';
  const port = url.port ? Number(url.port) : secure ? 465 : 587;
  let user: string;
  let pass: string;
  try {
    user = decodeURIComponent(url.username);
    pass = decodeURIComponent(url.password);
  } catch {
    throw new FlotillaError('bad-config', '--smtp: the user name or password is not URL-encoded properly (write % as %25)');
  }
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port, secure, ...(user ? { user } : {}), ...(user || pass ? { pass } : {}) };
}

const DOMAIN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Parses --mail-allow: domains and addresses, comma-separated (repeatable). Throws bad-config. */
export function parseMailAllow(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const item of values.flatMap((v) => v.split(',')).map((v) => v.trim())) {
    if (!item) continue;
    if (!DOMAIN.test(item) && !isMailAddress(item))
      throw new FlotillaError('bad-config', `--mail-allow takes domains and addresses (example.com, oncall@example.com), not "${item.slice(0, 80)}"`);
    // Compared without case: mail systems treat local parts so in practice, and a stricter match would only surprise.
    const normal = item.toLowerCase();
    if (!out.includes(normal)) out.push(normal);
  }
  return out;
}

type Transport = { sendMail(mail: Record<string, unknown>): Promise<{ response?: string }>; close(): void };
type Nodemailer = { createTransport(options: Record<string, unknown>): Transport };

/** The server's mailer; nothing is loaded or connected until the first mail. */
export function createServerMailer(options: MailOptions, log: Logger): ServerMailer {
  const allow = options.allow ?? [];
  const off = !options.smtp
    ? 'this signaling server sends no mail (its operator has not set --smtp)'
    : !options.from
      ? 'this signaling server sends no mail (its operator has not set --mail-from)'
      : allow.length === 0
        ? 'this signaling server mails nobody yet (its operator has not named any recipients with --mail-allow)'
        : undefined;
  let transport: Promise<Transport> | undefined;
  const timeoutMs = options.timeoutMs ?? 10_000;

  const open = (smtp: SmtpSettings): Promise<Transport> =>
    (transport ??= import('nodemailer').then((m) => {
      const mod = ((m as { default?: Nodemailer }).default ?? m) as Nodemailer;
      return mod.createTransport({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.secure,
        ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.pass ?? '' } } : {}),
        connectionTimeout: timeoutMs,
        greetingTimeout: timeoutMs,
        socketTimeout: timeoutMs,
      });
    }));

  const allowed = (address: string): boolean => {
    const lower = address.toLowerCase();
    return allow.includes(lower) || allow.includes(lower.slice(lower.lastIndexOf('@') + 1));
  };

  return {
    enabled: off === undefined,
    off,
    recipients(list, field) {
      if (off) throw new FlotillaError('unsupported', off);
      const to = mailRecipients(list, field);
      const refused = to.find((a) => !allowed(a));
      if (refused !== undefined) throw new FlotillaError('forbidden', `${field}: this server does not mail ${refused} (not among its --mail-allow recipients)`);
      return to;
    },
    async send(mail) {
      if (off || !options.smtp || !options.from) throw new PermanentFailure(off ?? 'mail is off');
      const smtp = options.smtp;
      let t: Transport;
      try {
        t = await open(smtp);
      } catch (error) {
        transport = undefined;
        throw new PermanentFailure(`this server cannot send mail: nodemailer could not be loaded (${errorText(error).split('\n')[0] ?? ''})`);
      }
      try {
        const info = await t.sendMail({
          from: options.from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          ...(mail.headers ? { headers: mail.headers } : {}),
        });
        return { response: String(info.response ?? '').slice(0, 200) };
      } catch (error) {
        const code = (error as { responseCode?: number }).responseCode;
        const what = `${smtp.host}:${smtp.port}: ${errorText(error).slice(0, 300)}`;
        // 5xx: refused for good (an address, a policy); 4xx and network errors may pass later.
        if (code !== undefined && code >= 500) throw new PermanentFailure(`the SMTP server refused the mail (${code}) ${what}`);
        log.debug('mail.smtp-error', { host: smtp.host, port: smtp.port, code, error: errorText(error) });
        throw new Error(`the SMTP server could not take the mail: ${what}`);
      }
    },
    close() {
      void transport?.then((t) => t.close()).catch(() => undefined);
      transport = undefined;
    },
  };
}

const STATUS: Partial<Record<ErrorCode, number>> = { 'bad-message': 400, 'too-large': 413, forbidden: 403, unsupported: 501, 'rate-limited': 429 };

type Handler = (req: Request, res: Response) => Promise<void>;
const route = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => void handler(req, res).catch(next);

/** The fields of a POST /api/mail body, checked: recipients (syntax, count, allowlist), a one-line subject, a bounded text. */
export function parseMailRequest(raw: unknown, mailer: Pick<ServerMailer, 'recipients'>): RelayMail {
  const body = obj(raw, 'body');
  const unknown = Object.keys(body).find((k) => !['to', 'subject', 'text'].includes(k));
  if (unknown !== undefined) throw new FlotillaError('bad-message', `${unknown.slice(0, 32)}: not a field of a mail (to, subject, text)`);
  const list = strArray(body, 'to', 64, 254);
  if (list.length > MAX_SERVER_MAIL_RECIPIENTS) throw new FlotillaError('bad-message', `to: ${list.length} addresses, at most ${MAX_SERVER_MAIL_RECIPIENTS}`);
  const subject = str(body, 'subject', MAX_MAIL_SUBJECT, 1);
  // A CR or LF in the subject would start another header line (header injection).
  if (/[\u0000-\u001f\u007f]/.test(subject)) throw new FlotillaError('bad-message', 'subject: one line, without control characters (no CR or LF)');
  const text = str(body, 'text', MAX_MAIL_TEXT);
  return { to: mailer.recipients(list, 'to'), subject, text };
}

/** `GET /api/mail` (whether this server sends mail) and `POST /api/mail` (a fleet member's mail). */
export function createMailRouter(
  mailer: ServerMailer,
  options: MailOptions,
  deps: { log: Logger; checkMember: FleetCredentialCheck; limited: express.RequestHandler },
): Router {
  const { log, checkMember } = deps;
  const router = express.Router();
  const perMinute = options.perFleetPerMinute ?? 30;
  const perFleet = createKeyedLimiter(perMinute / 60, perMinute);

  /** A refusal answered with its own sentence (the detail), not the generic one of its code. */
  const refuse = (res: Response, error: FlotillaError, member: FleetMember, req: Request): void => {
    log.warn('mail.refused', {
      fleet: short(member.fleet),
      by: short(member.id),
      kind: member.kind,
      code: error.code,
      detail: error.detail,
      remote: remoteOf(req),
    });
    res.status(STATUS[error.code] ?? 400).json({ error: { code: error.code, message: error.detail ?? error.message } });
  };

  router.get('/api/mail', (_req, res) => {
    res.json(mailer.enabled ? { enabled: true, maxRecipients: MAX_SERVER_MAIL_RECIPIENTS } : { enabled: false, reason: mailer.off });
  });

  router.post(
    '/api/mail',
    deps.limited,
    express.json({ limit: 64 * 1024 }),
    route(async (req, res) => {
      const member = await checkMember(req.get('authorization'), { agents: true });
      let mail: { to: string[]; subject: string; text: string };
      try {
        if (!mailer.enabled) throw new FlotillaError('unsupported', mailer.off);
        mail = parseMailRequest(req.body, mailer);
        if (!perFleet.allow(member.fleet)) throw new FlotillaError('rate-limited', `mail: ${perMinute} per minute per fleet; try again later`);
      } catch (error) {
        if (error instanceof FlotillaError) return refuse(res, error, member, req);
        throw error;
      }
      const started = Date.now();
      const fields = {
        fleet: short(member.fleet),
        by: short(member.id),
        kind: member.kind,
        to: mail.to,
        bytes: Buffer.byteLength(mail.text),
        remote: remoteOf(req),
      };
      try {
        const sent = await mailer.send({
          ...mail,
          headers: { 'X-Flotilla-Fleet': member.fleet, 'X-Flotilla-Sender': `${member.kind} ${member.id}` },
        });
        log.info('mail.sent', { ...fields, ms: Date.now() - started, smtp: sent.response });
        res.json({ sent: true, to: mail.to });
      } catch (error) {
        const final = error instanceof PermanentFailure;
        log.warn('mail.failed', { ...fields, ms: Date.now() - started, final, error: errorText(error) });
        // 502 either way; the code tells the sender whether trying again can help.
        res.status(502).json({ error: { code: final ? 'policy-refused' : 'unreachable', message: errorText(error) } });
      }
    }),
  );
  return router;
}
