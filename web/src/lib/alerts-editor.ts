// The alert rule and channel editors' forms, without the DOM: plain strings as the inputs hold
// them, turned into the AlertRuleDoc / ChannelDoc that parseAlertRule / parseChannel check (the
// validators the agents run on what they read), with each field's sentence kept beside that
// field; back from saved documents for editing (secrets never put back into a form); and the
// metric names a host's newest sample offers a rule, with names for people.

import {
  ALERT_NAME,
  COMPARISONS,
  SEVERITIES,
  WEBHOOK_FORMATS,
  parseAlertRule,
  parseChannel,
  type AlertRuleDoc,
  type ChannelDoc,
  type ChannelKind,
  type Comparison,
  type Severity,
  type WebhookFormat,
} from '../../../shared/alerts/documents.ts';
import { durationSeconds } from '../../../shared/alerts/rule-file.ts';
import { parseSelector } from '../../../shared/controller/selector.ts';
import { reason } from './jobs-view.ts';

export { COMPARISONS, SEVERITIES, WEBHOOK_FORMATS };

/** The rule form's fields, in the order they are shown. */
export const RULE_FIELDS = ['name', 'target', 'metric', 'threshold', 'for', 'severity', 'repeat', 'channels', 'labels', 'summary'] as const;
export type RuleField = (typeof RULE_FIELDS)[number];

export interface RuleForm {
  name: string;
  target: string;
  metric: string;
  op: Comparison;
  /** As typed: `90`, `90 %`, `0.5`. */
  threshold: string;
  /** A duration as typed: `1m`, `90s`, `0`. */
  for: string;
  severity: Severity;
  /** A duration; `0` notifies once. */
  repeat: string;
  channels: string[];
  /** `key=value`, one a line or comma separated. */
  labels: string;
  summary: string;
  enabled: boolean;
}

/** A new rule's form. */
export function emptyRuleForm(): RuleForm {
  return {
    name: '',
    target: '*',
    metric: '',
    op: '>',
    threshold: '',
    for: '1m',
    severity: 'warning',
    repeat: '0',
    channels: [],
    labels: '',
    summary: '',
    enabled: true,
  };
}

/** Seconds as the shortest duration word that says them exactly: 60 → `1m`, 90 → `90s`, 0 → `0`. */
export function durationText(sec: number): string {
  if (sec === 0) return '0';
  if (sec % 86_400 === 0) return `${sec / 86_400}d`;
  if (sec % 3600 === 0) return `${sec / 3600}h`;
  if (sec % 60 === 0) return `${sec / 60}m`;
  return `${sec}s`;
}

/** The form of a saved rule, for editing (or, with `copyName`, for a duplicate under that name). */
export function ruleFormOf(r: AlertRuleDoc, copyName?: string): RuleForm {
  return {
    name: copyName ?? r.name,
    target: r.target,
    metric: r.metric,
    op: r.op,
    threshold: String(r.threshold),
    for: durationText(r.forSec),
    severity: r.severity,
    repeat: durationText(r.repeatSec),
    channels: [...r.channels],
    labels: Object.entries(r.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(', '),
    summary: r.summary ?? '',
    enabled: r.enabled,
  };
}

/** A name for the duplicate of `name` that no rule has yet: `disk-full-copy`, `disk-full-copy-2`… */
export function copyName(name: string, taken: (name: string) => boolean): string {
  const base = `${name.slice(0, 58)}-copy`;
  if (!taken(base)) return base;
  for (let i = 2; ; i++) if (!taken(`${base}-${i}`)) return `${base}-${i}`;
}

/** The validator's sentence without the field name in front (it is shown beside the field), as a sentence. */
function beside(error: unknown): string {
  const text = reason(error).replace(/^[\w.]+(\[\d+\])?: /, '');
  const s = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** `90`, `90 %`, `-1.5`: a number; anything else stays text, for the validator to name. */
function numberOf(text: string): number | string {
  const t = text.trim().replace(/\s*%$/, '');
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : text;
}

/** `a=b, c=d` or one a line. A part without `=` is an error for the labels field. */
function labelsOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(/[\n,]/)) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq <= 0) throw new Error(`"${t.slice(0, 32)}" is not key=value`);
    out[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
  }
  return out;
}

/** What the rule editor knows beyond the form: whether this is a new rule, which names exist. */
export interface RuleContext {
  /** The rule being edited (its name stays); absent: a new rule or a duplicate. */
  editing?: string | undefined;
  /** Whether a rule of that name exists (a new rule must not take it). */
  ruleExists: (name: string) => boolean;
  /** The fleet's channel names. */
  channels: readonly string[];
}

export type RuleCheck = { ok: true; doc: AlertRuleDoc } | { ok: false; errors: Partial<Record<RuleField, string>> };

/**
 * The rule the form describes, or a sentence for every field that is wrong. Each field is put
 * into an otherwise valid rule and checked by parseAlertRule, so the sentence is the agents'
 * own; durations, the selector and the channel names are checked as `flotilla alerts save` does.
 */
export function checkRule(form: RuleForm, ctx: RuleContext, at: number): RuleCheck {
  const errors: Partial<Record<RuleField, string>> = {};
  const name = ctx.editing ?? form.name.trim();
  const base: AlertRuleDoc = {
    type: 'alert',
    name: 'x',
    target: '*',
    metric: 'cpu',
    op: '>',
    threshold: 0,
    forSec: 0,
    severity: 'warning',
    labels: {},
    repeatSec: 0,
    channels: [],
    enabled: form.enabled,
    deleted: false,
    at,
  };
  const candidate: Record<string, unknown> = { ...base };
  const field = (key: RuleField, value: () => Record<string, unknown>): void => {
    try {
      const part = value();
      parseAlertRule({ ...base, ...part });
      Object.assign(candidate, part);
    } catch (error) {
      errors[key] = beside(error);
    }
  };
  field('name', () => {
    if (!name) throw new Error('Name the rule: letters, digits, dot, dash, underscore.');
    if (!ALERT_NAME.test(name)) throw new Error(`"${name.slice(0, 64)}" is not a name: use letters, digits, dot, dash and underscore (at most 64).`);
    if (!ctx.editing && ctx.ruleExists(name)) throw new Error('A rule of that name exists: edit it, or choose another name.');
    return { name };
  });
  field('target', () => {
    const target = form.target.trim();
    if (!target) throw new Error('Say which hosts evaluate it: * for all, or a selector such as tag:role=db.');
    parseSelector(target);
    return { target };
  });
  field('metric', () => {
    const metric = form.metric.trim();
    if (!metric) throw new Error('Choose the metric to watch.');
    return { metric };
  });
  field('threshold', () => ({ op: form.op, threshold: numberOf(form.threshold) }));
  field('for', () => ({ forSec: durationSeconds(form.for.trim() || '0', 'for') }));
  field('severity', () => ({ severity: form.severity }));
  field('repeat', () => ({ repeatSec: durationSeconds(form.repeat.trim() || '0', 'repeat') }));
  field('channels', () => {
    const missing = form.channels.filter((c) => !ctx.channels.includes(c));
    if (missing.length) throw new Error(`Channel ${missing.join(', ')} does not exist any more: untick it or make it again.`);
    return { channels: [...form.channels] };
  });
  field('labels', () => ({ labels: labelsOf(form.labels) }));
  field('summary', () => (form.summary.trim() ? { summary: form.summary.trim() } : {}));
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  try {
    return { ok: true, doc: parseAlertRule(candidate) };
  } catch (error) {
    return { ok: false, errors: { name: beside(error) } };
  }
}

/** The same rule deleted: agents end its alerts without a notification, and lists leave it out. */
export function deletedRule(r: AlertRuleDoc, now: number): AlertRuleDoc {
  return { ...r, deleted: true, at: Math.max(now, r.at + 1) };
}

/* ---------------------------------------------------------------- channels */

export const CHANNEL_FIELDS = ['name', 'url', 'format', 'secret', 'host', 'port', 'user', 'pass', 'from', 'to', 'devices'] as const;
export type ChannelField = (typeof CHANNEL_FIELDS)[number];

export interface ChannelForm {
  name: string;
  kind: ChannelKind;
  url: string;
  format: WebhookFormat;
  /** Empty on edit: the saved secret is kept. */
  secret: string;
  /** Remove the saved secret (on edit). */
  clearSecret: boolean;
  /** Who sends the mail: the agent with its own SMTP server, or the signaling server (its --smtp). */
  via: 'agent' | 'server';
  host: string;
  port: string;
  secure: boolean;
  user: string;
  /** Empty on edit: the saved password is kept. */
  pass: string;
  clearPass: boolean;
  from: string;
  /** Addresses, comma separated or one a line. */
  to: string;
  /** Device ids or names, comma separated; empty: every subscribed device. */
  devices: string;
}

export function emptyChannelForm(kind: ChannelKind = 'webhook'): ChannelForm {
  return {
    name: '',
    kind,
    url: '',
    format: 'generic',
    secret: '',
    clearSecret: false,
    via: 'agent',
    host: '',
    port: '587',
    secure: false,
    user: '',
    pass: '',
    clearPass: false,
    from: '',
    to: '',
    devices: '',
  };
}

/** The form of a saved channel: everything but its secrets, which stay as saved unless replaced or removed. */
export function channelFormOf(c: ChannelDoc): ChannelForm {
  const form = emptyChannelForm(c.kind);
  form.name = c.name;
  if (c.webhook) Object.assign(form, { url: c.webhook.url, format: c.webhook.format });
  if (c.email?.via === 'server') Object.assign(form, { via: 'server', to: c.email.to.join(', ') });
  else if (c.email)
    Object.assign(form, {
      host: c.email.host,
      port: String(c.email.port),
      secure: c.email.secure,
      user: c.email.user ?? '',
      from: c.email.from,
      to: c.email.to.join(', '),
    });
  if (c.push) form.devices = c.push.devices.join(', ');
  return form;
}

/** Whether the saved channel has a secret the form keeps (shown as ***). */
export function savedSecrets(c: ChannelDoc | undefined): { secret: boolean; pass: boolean } {
  return { secret: !!c?.webhook?.secret, pass: c?.email?.via !== 'server' && !!c?.email?.pass };
}

const list = (text: string): string[] =>
  text
    .split(/[\n,;]/)
    .map((s) => s.trim())
    .filter(Boolean);

export type ChannelCheck = { ok: true; doc: ChannelDoc } | { ok: false; errors: Partial<Record<ChannelField, string>> };

/**
 * The channel the form describes (secrets left empty on edit kept from `previous`), or a
 * sentence per wrong field. Each field is put into an otherwise valid channel of its kind and
 * checked by parseChannel, the agents' validator.
 */
export function checkChannel(
  form: ChannelForm,
  ctx: { previous?: ChannelDoc | undefined; channelExists: (name: string) => boolean },
  at: number,
): ChannelCheck {
  const errors: Partial<Record<ChannelField, string>> = {};
  const prev = ctx.previous;
  const name = prev ? prev.name : form.name.trim();
  if (!name) errors.name = 'Name the channel: letters, digits, dot, dash, underscore.';
  else if (!ALERT_NAME.test(name)) errors.name = `"${name.slice(0, 64)}" is not a name: use letters, digits, dot, dash and underscore (at most 64).`;
  else if (!prev && ctx.channelExists(name)) errors.name = 'A channel of that name exists: edit it, or choose another name.';

  const section = form.kind;
  let base: Record<string, unknown>;
  let parts: [ChannelField, Record<string, unknown>][];
  if (form.kind === 'webhook') {
    const secret = form.secret !== '' ? form.secret : form.clearSecret ? undefined : prev?.webhook?.secret;
    base = { url: 'http://x', format: 'generic' };
    parts = [
      ['url', { url: form.url.trim() }],
      ['format', { format: form.format }],
      ['secret', secret ? { secret } : {}],
    ];
  } else if (form.kind === 'email' && form.via === 'server') {
    base = { via: 'server', to: ['a@b'] };
    parts = [['to', { to: list(form.to) }]];
  } else if (form.kind === 'email') {
    const kept = prev?.email?.via === 'server' ? undefined : prev?.email?.pass;
    const pass = form.pass !== '' ? form.pass : form.clearPass ? undefined : kept;
    const port = form.port.trim();
    base = { host: 'x', port: 587, secure: false, from: 'a@b', to: ['a@b'] };
    parts = [
      ['host', { host: form.host.trim() }],
      ['port', { port: /^\d+$/.test(port) ? Number(port) : port, secure: form.secure }],
      ['user', form.user.trim() ? { user: form.user.trim() } : {}],
      ['pass', pass ? { pass } : {}],
      ['from', { from: form.from.trim() }],
      ['to', { to: list(form.to) }],
    ];
  } else {
    base = { devices: [] };
    parts = [['devices', { devices: list(form.devices) }]];
  }
  const full: Record<string, unknown> = { ...base };
  for (const [key, part] of parts) {
    try {
      parseChannel({ type: 'channel', name: 'x', kind: form.kind, [section]: { ...base, ...part }, deleted: false, at });
      Object.assign(full, part);
    } catch (error) {
      errors[key] = beside(error);
    }
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  try {
    return { ok: true, doc: parseChannel({ type: 'channel', name, kind: form.kind, [section]: full, deleted: false, at }) };
  } catch (error) {
    return { ok: false, errors: { name: beside(error) } };
  }
}

/** The same channel deleted. */
export function deletedChannel(c: ChannelDoc, now: number): ChannelDoc {
  return { ...c, deleted: true, at: Math.max(now, c.at + 1) };
}

/** The rules that name a channel (a channel they name is not deleted from under them). */
export function rulesNaming(channel: string, rules: readonly AlertRuleDoc[]): string[] {
  return rules.filter((r) => r.channels.includes(channel)).map((r) => r.name);
}

/* ---------------------------------------------------------------- metrics */

/** A metric a rule can watch: the series name and what people call it. */
export interface MetricChoice {
  name: string;
  label: string;
  unit: string;
}

/** The metrics offered before any host answered (or when none is online): the usual ones. */
export const COMMON_METRICS = ['cpu', 'mem.used_pct', 'fs:/:used_pct', 'fs:/:inodes_used_pct', 'swap.used_pct', 'load1', 'load5', 'load15', 'procs'] as const;

/** What people call a series: `fs:/:used_pct` → `Disk used % on /`. Unknown names are shown as they are. */
export function metricLabel(name: string): string {
  const fixed: Record<string, string> = {
    cpu: 'CPU busy %',
    'cpu.iowait': 'CPU waiting for I/O %',
    'cpu.steal': 'CPU stolen by the hypervisor %',
    'mem.used_pct': 'Memory used %',
    'swap.used_pct': 'Swap used %',
    'mem.used': 'Memory used (bytes)',
    'mem.available': 'Memory available (bytes)',
    'swap.used': 'Swap used (bytes)',
    load1: 'Load average, 1 min',
    load5: 'Load average, 5 min',
    load15: 'Load average, 15 min',
    procs: 'Processes',
    uptime: 'Uptime (s)',
  };
  if (fixed[name]) return fixed[name];
  let m = /^fs:(.+):(used_pct|inodes_used_pct|used|size|inodes_used|inodes)$/.exec(name);
  if (m) {
    const what = {
      used_pct: 'Disk used %',
      inodes_used_pct: 'Inodes used %',
      used: 'Disk used (bytes)',
      size: 'Disk size (bytes)',
      inodes_used: 'Inodes used',
      inodes: 'Inodes',
    }[m[2] as 'used_pct'];
    return `${what} on ${m[1]}`;
  }
  if ((m = /^core:(\d+)$/.exec(name))) return `CPU core ${m[1]} busy %`;
  if ((m = /^net:(.+):(rx_Bps|tx_Bps|rx_pps|tx_pps|errors_ps)$/.exec(name)))
    return `${{ rx_Bps: 'Network in (B/s)', tx_Bps: 'Network out (B/s)', rx_pps: 'Packets in /s', tx_pps: 'Packets out /s', errors_ps: 'Network errors /s' }[m[2] as 'rx_Bps']} on ${m[1]}`;
  if ((m = /^disk:(.+):(read_Bps|write_Bps|busy)$/.exec(name)))
    return `${{ read_Bps: 'Disk reads (B/s)', write_Bps: 'Disk writes (B/s)', busy: 'Disk busy %' }[m[2] as 'busy']} on ${m[1]}`;
  if ((m = /^temp:(.+)$/.exec(name))) return `Temperature of ${m[1]} (°C)`;
  return name;
}

/** The threshold's unit for a series: `%`, `°C`, `B/s`, `bytes`, `s` or nothing. */
export function metricUnit(name: string): string {
  if (/_pct$|^cpu(\.|$)|^core:|^disk:.+:busy$/.test(name)) return '%';
  if (/^temp:/.test(name)) return '°C';
  if (/_Bps$/.test(name)) return 'B/s';
  if (/_ps$|_pps$/.test(name)) return '/s';
  if (/^(mem|swap)\.(used|available|total)$|^fs:.+:(used|size)$/.test(name)) return 'bytes';
  if (name === 'uptime') return 's';
  return '';
}

/** The order choices are listed in: CPU, memory, disks, load, then the rest by name. */
function rank(name: string): number {
  if (name === 'cpu') return 0;
  if (name === 'mem.used_pct') return 1;
  if (/^fs:.+:used_pct$/.test(name)) return 2;
  if (name === 'swap.used_pct') return 3;
  if (/^fs:.+:inodes_used_pct$/.test(name)) return 4;
  if (/^load/.test(name)) return 5;
  if (name === 'procs') return 6;
  if (/^temp:/.test(name)) return 7;
  if (/^net:/.test(name)) return 8;
  if (/^disk:/.test(name)) return 9;
  if (/^core:/.test(name)) return 10;
  return 11;
}

/**
 * The metrics a rule can watch on a host whose newest sample holds `series`: the rules' percents
 * derived from their parts (`mem.used_pct`, `fs:<mount>:used_pct`…) and the sampler's levels and
 * rates, without the parts that only make sense as a percent. With no sample, the common ones.
 */
export function metricChoices(series: readonly string[] | undefined): MetricChoice[] {
  const names = new Set<string>();
  if (!series || series.length === 0) for (const n of COMMON_METRICS) names.add(n);
  else {
    // An agent's first sample has no CPU figure yet (it needs two readings): CPU is always offered.
    names.add('cpu');
    for (const s of series) {
      let m: RegExpExecArray | null;
      if (s === 'mem.total') names.add('mem.used_pct');
      else if (s === 'swap.total') names.add('swap.used_pct');
      else if ((m = /^fs:(.+):size$/.exec(s))) names.add(`fs:${m[1]}:used_pct`);
      else if ((m = /^fs:(.+):inodes$/.exec(s))) names.add(`fs:${m[1]}:inodes_used_pct`);
      else if (/^(mem|swap)\.|^fs:|^cpu\.cores$/.test(s)) continue;
      else names.add(s);
    }
  }
  return [...names]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b, undefined, { numeric: true }))
    .map((name) => ({ name, label: metricLabel(name), unit: metricUnit(name) }));
}

/** The rule in one line for people: `Disk used % on / > 90 % for 1m`. */
export function ruleSentence(form: Pick<RuleForm, 'metric' | 'op' | 'threshold' | 'for'>): string {
  const unit = metricUnit(form.metric);
  const t = form.threshold.trim().replace(/\s*%$/, '');
  const dur = form.for.trim();
  return `${metricLabel(form.metric.trim()) || '…'} ${form.op} ${t || '…'}${unit === '%' ? ' %' : unit ? ` ${unit}` : ''}${dur && dur !== '0' ? ` for ${dur}` : ', at once'}`;
}
