// The Alerts page's logic, without the DOM: the alerts firing and pending now (worst first), the
// history of state changes per host × rule, the silences in force, the silence form's document,
// the rules and channels with their secrets hidden, and which new changes deserve a system
// notification on this device. The documents themselves are checked by shared/alerts/documents.ts.

import type { AlertEvent, AlertRuleDoc, AlertStateDoc, ChannelDoc, Severity, SilenceDoc } from '../../../shared/alerts/documents.ts';
import type { OpenedDoc } from '../../../shared/store/fleet-sync.ts';

/** What the fleet store holds about alerts, as the pages read it. */
export interface AlertDocs {
  states: AlertStateDoc[];
  rules: AlertRuleDoc[];
  channels: ChannelDoc[];
  silences: SilenceDoc[];
}

/**
 * The alert documents among opened store documents. A state is kept only when the host it is
 * about signed it; rules, channels and silences only from devices (the store already refuses
 * them from viewers and hosts); deleted rules and channels are left out.
 */
export function alertsFromStore(docs: readonly OpenedDoc[]): AlertDocs {
  const out: AlertDocs = { states: [], rules: [], channels: [], silences: [] };
  for (const d of docs) {
    const p = d.payload;
    if (p.type === 'alertstate') {
      if (d.signer.kind === 'host' && d.signer.id === p.host) out.states.push(p);
    } else if (d.signer.kind !== 'device') continue;
    else if (p.type === 'alert' && !p.deleted) out.rules.push(p);
    else if (p.type === 'channel' && !p.deleted) out.channels.push(p);
    else if (p.type === 'silence') out.silences.push(p);
  }
  return out;
}

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

/** Alerts firing or pending now: firing before pending, then critical first, then the oldest first. */
export function activeAlerts(states: readonly AlertStateDoc[]): AlertStateDoc[] {
  return states
    .filter((s) => s.installed && (s.state === 'firing' || s.state === 'pending'))
    .sort(
      (a, b) =>
        (a.state === 'firing' ? 0 : 1) - (b.state === 'firing' ? 0 : 1) ||
        SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
        a.since - b.since ||
        a.rule.localeCompare(b.rule),
    );
}

/** The number the nav badge shows. */
export function firingCount(states: readonly AlertStateDoc[]): number {
  return states.filter((s) => s.installed && s.state === 'firing').length;
}

/** One line of the history: an event with the alert it belongs to. */
export interface HistoryRow extends AlertEvent {
  rule: string;
  host: string;
  hostname: string;
  severity: Severity;
}

/** A filter on the history: a rule name and a host (its name or the start of its id); empty matches all. */
export interface HistoryFilter {
  rule?: string;
  host?: string;
  /** Only state changes (no notification outcomes). */
  statesOnly?: boolean;
}

/** Events of every host × rule, newest first, filtered. */
export function historyRows(states: readonly AlertStateDoc[], filter: HistoryFilter = {}): HistoryRow[] {
  const rule = filter.rule?.trim();
  const host = filter.host?.trim().toLowerCase();
  return states
    .filter((s) => !rule || s.rule === rule)
    .filter((s) => !host || s.hostname.toLowerCase() === host || s.host.startsWith(host))
    .flatMap((s) => s.events.map((e) => ({ ...e, rule: s.rule, host: s.host, hostname: s.hostname, severity: s.severity })))
    .filter((e) => !filter.statesOnly || e.kind === 'state')
    .sort((a, b) => b.at - a.at || (a.kind === 'state' ? 0 : 1) - (b.kind === 'state' ? 0 : 1));
}

/** What happened, in the CLI's words: `pending → firing`, `firing to ops: sent`, `resolved not sent (silenced)`. */
export function eventText(e: AlertEvent): string {
  if (e.kind === 'state') return `${e.from ?? '?'} → ${e.to ?? '?'}`;
  if (e.silenced) return `${e.event ?? '?'} not sent (silenced)`;
  const outcome = e.ok ? 'sent' : `failed${e.error ? ` (${e.error})` : ''}`;
  return `${e.event ?? '?'} to ${e.channel ?? '?'}: ${outcome}${e.attempts && e.attempts > 1 ? ` after ${e.attempts} attempts` : ''}`;
}

/** A metric's value for people: at most two decimals; `–` when the sample had none. */
export function formatValue(value: number | undefined): string {
  return value === undefined ? '–' : String(Math.round(value * 100) / 100);
}

/** A rule's condition as the CLI shows it: `cpu > 80 for 10s`. */
export function condition(r: AlertRuleDoc): string {
  return `${r.metric} ${r.op} ${r.threshold}${r.forSec ? ` for ${r.forSec}s` : ''}`;
}

/** Silences in force now, ending soonest first. */
export function activeSilences(silences: readonly SilenceDoc[], now: number): SilenceDoc[] {
  return silences.filter((s) => s.until > now).sort((a, b) => a.until - b.until);
}

/** What a silence mutes, in words. */
export function silenceScope(s: SilenceDoc): string {
  if (s.rule && s.host) return `rule ${s.rule} on ${s.host}`;
  return s.rule ? `rule ${s.rule}` : `hosts ${s.host ?? '?'}`;
}

/** The durations the silence form offers, in hours; `custom` lets the operator type one. */
export const SILENCE_HOURS = [1, 4, 24] as const;

/** The silence form as filled in. */
export interface SilenceInput {
  /** `rule` mutes one rule (optionally only on `host`); `host` mutes every rule on the hosts a selector picks. */
  what: 'rule' | 'host';
  rule: string;
  host: string;
  /** Hours; fractions allowed (0.5 is 30 minutes). */
  hours: number;
  comment: string;
}

/** The silence document the form makes, the shape `flotilla alerts silence` writes; throws a sentence for the form. */
export function silenceDoc(input: SilenceInput, by: string, now: number, id: string): SilenceDoc {
  const rule = input.rule.trim();
  const host = input.host.trim();
  if (!(input.hours > 0) || input.hours > 24 * 365) throw new Error('Say for how long: more than 0 hours, at most a year.');
  if (input.what === 'rule' && !rule) throw new Error('Choose the rule to silence.');
  if (input.what === 'host' && !host) throw new Error('Name the hosts to silence: a hostname, a host id or a selector such as tag:role=db.');
  if (input.comment.length > 1024) throw new Error('The comment is too long: at most 1,024 characters.');
  return {
    type: 'silence',
    id,
    ...(input.what === 'rule' ? { rule } : {}),
    ...(host ? { host } : {}),
    until: now + Math.round(input.hours * 3_600_000),
    comment: input.comment.trim(),
    by,
    at: now,
  };
}

/** The same silence ended now: agents read `until <= now` as no longer in force. */
export function endSilence(s: SilenceDoc, now: number): SilenceDoc {
  return { ...s, until: now, at: Math.max(now, s.at + 1) };
}

/** A channel for the screen: where it sends, secrets as ***. */
export function channelTarget(c: ChannelDoc): string {
  if (c.webhook) return `${c.webhook.format} webhook ${c.webhook.url}${c.webhook.secret ? ' (secret ***)' : ''}`;
  if (c.email?.via === 'server') return `mail to ${c.email.to.join(', ')} via the signaling server`;
  if (c.email)
    return `mail to ${c.email.to.join(', ')} via ${c.email.host}:${c.email.port}${c.email.user ? ` as ${c.email.user}` : ''}${c.email.pass ? ' (password ***)' : ''}`;
  return c.kind;
}

/** A state change a system notification is shown for. */
export interface AlertNotice {
  tag: string;
  title: string;
  body: string;
  at: number;
  severity: Severity;
  state: 'firing' | 'resolved';
}

/**
 * The changes to `firing` or `resolved` newer than `seen` (the newest change this device already
 * knew), oldest first, and the new `seen`. With no `seen` yet (first start on this device) nothing
 * is shown, and `seen` becomes the newest change or `now`, whichever is later: old history is not news.
 */
export function newNotices(states: readonly AlertStateDoc[], seen: number | undefined, now: number): { notices: AlertNotice[]; seen: number } {
  let newest = seen ?? now;
  const notices: AlertNotice[] = [];
  for (const s of states)
    for (const e of s.events) {
      if (e.kind !== 'state') continue;
      if (e.at > newest) newest = e.at;
      if (seen === undefined || e.at <= seen || (e.to !== 'firing' && e.to !== 'resolved')) continue;
      const word = e.to === 'firing' ? 'firing' : 'resolved';
      notices.push({
        tag: `alert:${s.host}:${s.rule}`,
        title: `${word === 'firing' ? '🔴' : '✅'} ${s.rule} ${word} on ${s.hostname}`,
        body: `${s.metric} = ${formatValue(e.value)} (${s.severity})`,
        at: e.at,
        severity: s.severity,
        state: word,
      });
    }
  notices.sort((a, b) => a.at - b.at);
  return { notices, seen: newest };
}
