// Alert rules, notification channels, silences and the per host × rule alert state: the fleet
// documents of docs/alerts.md. Rules, channels and silences are `doc` records in the fleet scope
// (signed by operator and admin devices, read by every host); an alert state is a `result`
// record for the devices, written by the host it is about. Isomorphic: the agent, the CLI and
// the PWA validate the same way. Every field is checked after the record is opened.

import { FlotillaError } from '../wire/errors.ts';
import { bool, int, isObj, obj, oneOf, optInt, optStr, str, strArray, strMap, type Obj } from '../wire/validate.ts';
import { mailRecipients } from './mail-address.ts';

/** A rule or channel name: also its record name and the word on the command line. */
export const ALERT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const COMPARISONS = ['>', '>=', '<', '<='] as const;
export type Comparison = (typeof COMPARISONS)[number];
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const ALERT_STATES = ['inactive', 'pending', 'firing', 'resolved'] as const;
/** inactive: below threshold; pending: over it for less than `forSec`; firing; resolved: was firing, now below. */
export type AlertState = (typeof ALERT_STATES)[number];
export const WEBHOOK_FORMATS = ['generic', 'slack', 'dingtalk'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];
/** Longest `for` and repeat interval: a week. */
export const MAX_DURATION_SEC = 7 * 86_400;
/** Events an alert state document carries (the newest). */
export const STATE_EVENTS_MAX = 20;

export interface AlertRuleDoc {
  type: 'alert';
  name: string;
  /** A selector (docs/selectors.md): the hosts that evaluate the rule. */
  target: string;
  /** A series name of the metrics sampler (`cpu`, `load1`, `fs:/:used`) or a derived percent (`mem.used_pct`, `fs:/:used_pct`). */
  metric: string;
  op: Comparison;
  threshold: number;
  /** Seconds the condition must hold before the alert fires (0: at once). */
  forSec: number;
  severity: Severity;
  labels: Record<string, string>;
  /** While firing, notify again every this many seconds (0: once). */
  repeatSec: number;
  /** Channel names notified on firing, repeat and resolve. */
  channels: string[];
  /** One line for people; the notification's text. */
  summary?: string;
  enabled: boolean;
  deleted: boolean;
  at: number;
}

export interface WebhookChannel {
  url: string;
  format: WebhookFormat;
  /** HMAC-SHA256 key: generic and slack send `x-flotilla-signature`; DingTalk's robot signature in the URL. */
  secret?: string;
}

/** Mail the agent sends itself, through the SMTP server the channel names. */
export interface AgentEmailChannel {
  /** Absent in documents written before `via` existed. */
  via?: 'agent';
  host: string;
  port: number;
  /** TLS from the start (465); otherwise STARTTLS when the server offers it. */
  secure: boolean;
  user?: string;
  pass?: string;
  from: string;
  to: string[];
}

/** Mail the signaling server sends for the agent (its --smtp, --mail-from, and only to its --mail-allow): only the recipients. */
export interface ServerEmailChannel {
  via: 'server';
  to: string[];
}

export type EmailChannel = AgentEmailChannel | ServerEmailChannel;

/** Web Push to the PWA on the devices that turned notifications on (their `pushsub` documents). */
export interface PushChannel {
  /** Device ids or names whose subscriptions get it; empty: every subscribed device. */
  devices: string[];
}

export const CHANNEL_KINDS = ['webhook', 'email', 'push'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

export interface ChannelDoc {
  type: 'channel';
  name: string;
  kind: ChannelKind;
  webhook?: WebhookChannel;
  email?: EmailChannel;
  push?: PushChannel;
  deleted: boolean;
  at: number;
}

/** Mutes notifications of a rule, of hosts (a selector), or of a rule on some hosts, until a time. */
export interface SilenceDoc {
  type: 'silence';
  id: string;
  rule?: string;
  host?: string;
  until: number;
  comment: string;
  /** The device name that made it. */
  by: string;
  at: number;
}

/** One thing that happened to an alert on a host: a state change, or a notification sent, failed or silenced. */
export interface AlertEvent {
  at: number;
  kind: 'state' | 'notify';
  /** state: the new state and the one left. */
  to?: AlertState;
  from?: AlertState;
  /** The metric's value when it happened. */
  value?: number;
  /** notify: firing, repeat or resolved; the channel; whether it arrived; silenced (not sent). */
  event?: 'firing' | 'repeat' | 'resolved';
  channel?: string;
  ok?: boolean;
  silenced?: boolean;
  attempts?: number;
  error?: string;
}

/** What a host reports of one rule: where it stands now and its newest events. */
export interface AlertStateDoc {
  type: 'alertstate';
  rule: string;
  host: string;
  hostname: string;
  state: AlertState;
  /** When the current state began. */
  since: number;
  value?: number;
  severity: Severity;
  metric: string;
  /** False once the rule was deleted, disabled or stopped matching this host. */
  installed: boolean;
  events: AlertEvent[];
  at: number;
}

const ID = 52;

/** A finite number (JSON has no NaN or Infinity, but a writer may send a string). */
export function num(o: Obj, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new FlotillaError('bad-message', `${key}: expected a number`);
  return v;
}

function optNum(o: Obj, key: string): number | undefined {
  return o[key] === undefined ? undefined : num(o, key);
}

function name(o: Obj, key: string): string {
  const v = str(o, key, 64, 1);
  if (!ALERT_NAME.test(v)) throw new FlotillaError('bad-message', `${key}: "${v.slice(0, 64)}" is not a name (letters, digits, dot, dash, underscore)`);
  return v;
}

export function parseAlertRule(o: Obj): AlertRuleDoc {
  const summary = optStr(o, 'summary', 1024);
  return {
    type: 'alert',
    name: name(o, 'name'),
    target: str(o, 'target', 4096, 1),
    metric: str(o, 'metric', 128, 1),
    op: oneOf(o, 'op', COMPARISONS),
    threshold: num(o, 'threshold'),
    forSec: int(o, 'forSec', 0, MAX_DURATION_SEC),
    severity: oneOf(o, 'severity', SEVERITIES),
    labels: strMap(o, 'labels', 32, 256),
    repeatSec: int(o, 'repeatSec', 0, MAX_DURATION_SEC),
    channels: strArray(o, 'channels', 16, 64),
    ...(summary === undefined ? {} : { summary }),
    enabled: bool(o, 'enabled'),
    deleted: bool(o, 'deleted'),
    at: int(o, 'at'),
  };
}

function parseWebhook(raw: unknown): WebhookChannel {
  const o = obj(raw, 'webhook');
  const url = str(o, 'url', 2048, 1);
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new FlotillaError('bad-message', 'webhook.url: expected an http:// or https:// URL');
  const secret = optStr(o, 'secret', 256);
  return { url, format: oneOf(o, 'format', WEBHOOK_FORMATS), ...(secret === undefined ? {} : { secret }) };
}

/** SMTP settings a `via: server` channel leaves to the server. */
const SERVER_SETS = ['host', 'port', 'secure', 'user', 'pass', 'from'] as const;

function parseEmail(raw: unknown): EmailChannel {
  const o = obj(raw, 'email');
  const via = o['via'] === undefined ? 'agent' : oneOf(o, 'via', ['agent', 'server'] as const);
  if (via === 'server') {
    const extra = SERVER_SETS.find((k) => o[k] !== undefined);
    if (extra !== undefined)
      throw new FlotillaError('bad-message', `email.${extra}: a via: server channel is sent with the signaling server's SMTP settings; leave ${extra} out`);
    const unknown = Object.keys(o).find((k) => k !== 'via' && k !== 'to');
    if (unknown !== undefined) throw new FlotillaError('bad-message', `email.${unknown.slice(0, 32)}: not a setting of a via: server channel (only to)`);
    return { via, to: mailRecipients(strArray(o, 'to', 32, 254), 'email.to') };
  }
  const user = optStr(o, 'user', 256);
  const pass = optStr(o, 'pass', 256);
  const to = strArray(o, 'to', 32, 254);
  if (to.length === 0) throw new FlotillaError('bad-message', 'email.to: name at least one address');
  return {
    ...(o['via'] === undefined ? {} : { via }),
    host: str(o, 'host', 255, 1),
    port: int(o, 'port', 1, 65_535),
    secure: bool(o, 'secure'),
    ...(user === undefined ? {} : { user }),
    ...(pass === undefined ? {} : { pass }),
    from: str(o, 'from', 254, 3),
    to,
  };
}

function parsePush(raw: unknown): PushChannel {
  const o = obj(raw, 'push');
  return { devices: o['devices'] === undefined ? [] : strArray(o, 'devices', 64, 128) };
}

export function parseChannel(o: Obj): ChannelDoc {
  const kind = oneOf(o, 'kind', CHANNEL_KINDS);
  return {
    type: 'channel',
    name: name(o, 'name'),
    kind,
    ...(kind === 'webhook' ? { webhook: parseWebhook(o['webhook']) } : kind === 'email' ? { email: parseEmail(o['email']) } : { push: parsePush(o['push']) }),
    deleted: bool(o, 'deleted'),
    at: int(o, 'at'),
  };
}

export function parseSilence(o: Obj): SilenceDoc {
  const rule = optStr(o, 'rule', 64);
  const host = optStr(o, 'host', 4096);
  if (!rule && !host) throw new FlotillaError('bad-message', 'a silence names a rule, hosts, or both');
  return {
    type: 'silence',
    id: str(o, 'id', 64, 1),
    ...(rule ? { rule } : {}),
    ...(host ? { host } : {}),
    until: int(o, 'until'),
    comment: str(o, 'comment', 1024),
    by: str(o, 'by', 128),
    at: int(o, 'at'),
  };
}

function parseEvent(raw: unknown, i: number): AlertEvent {
  const o = obj(raw, `events[${i}]`);
  const e: AlertEvent = { at: int(o, 'at'), kind: oneOf(o, 'kind', ['state', 'notify'] as const) };
  if (o['to'] !== undefined) e.to = oneOf(o, 'to', ALERT_STATES);
  if (o['from'] !== undefined) e.from = oneOf(o, 'from', ALERT_STATES);
  const value = optNum(o, 'value');
  if (value !== undefined) e.value = value;
  if (o['event'] !== undefined) e.event = oneOf(o, 'event', ['firing', 'repeat', 'resolved'] as const);
  const channel = optStr(o, 'channel', 64);
  if (channel !== undefined) e.channel = channel;
  if (o['ok'] !== undefined) e.ok = bool(o, 'ok');
  if (o['silenced'] !== undefined) e.silenced = bool(o, 'silenced');
  const attempts = optInt(o, 'attempts', 0, 100);
  if (attempts !== undefined) e.attempts = attempts;
  const error = optStr(o, 'error', 512);
  if (error !== undefined) e.error = error;
  return e;
}

export function parseAlertState(o: Obj): AlertStateDoc {
  const events = o['events'];
  if (!Array.isArray(events) || events.length > STATE_EVENTS_MAX)
    throw new FlotillaError('bad-message', `events: expected a list of at most ${STATE_EVENTS_MAX}`);
  const value = optNum(o, 'value');
  return {
    type: 'alertstate',
    rule: name(o, 'rule'),
    host: str(o, 'host', ID, ID),
    hostname: str(o, 'hostname', 255),
    state: oneOf(o, 'state', ALERT_STATES),
    since: int(o, 'since'),
    ...(value === undefined ? {} : { value }),
    severity: oneOf(o, 'severity', SEVERITIES),
    metric: str(o, 'metric', 128, 1),
    installed: bool(o, 'installed'),
    events: events.map(parseEvent),
    at: int(o, 'at'),
  };
}

/** True when a silence applies now to `rule` on a host (`hostMatches` answers for its selector). */
export function silenceApplies(s: SilenceDoc, rule: string, now: number, hostMatches: (selector: string) => boolean): boolean {
  if (s.until <= now) return false;
  if (s.rule !== undefined && s.rule !== rule) return false;
  return s.host === undefined || hostMatches(s.host);
}

export { isObj };
