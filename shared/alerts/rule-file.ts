// The file an operator writes for `flotilla alerts save` (and the PWA's form fills the same
// shape): YAML or JSON, one document or several (`---`), each an alert rule or a channel by its
// `kind`, most fields optional. Turned into the fleet documents of documents.ts, validated by the
// same parsers the readers use, with errors naming the document and the field.
//
//   kind: alert                        kind: channel
//   name: cpu-hot                      name: ops
//   target: 'tag:role=web'             webhook: { url: https://hooks.example/x, format: slack, secret: s3cret }
//   metric: cpu                        # or
//   when: '> 80'                       email: { host: smtp.example, port: 587, from: a@b, to: [c@d] }
//                                      # or Web Push to the PWA (every subscribed device, or those named)
//                                      push: { devices: [alice-phone] }
//   for: 10s
//   severity: critical
//   repeat: 1h
//   channels: [ops]

import { parseAllDocuments } from 'yaml';
import { FlotillaError } from '../wire/errors.ts';
import { isObj, type Obj } from '../wire/validate.ts';
import { COMPARISONS, parseAlertRule, parseChannel, type AlertRuleDoc, type ChannelDoc } from './documents.ts';

/** Parses "10s", "5m", "1h", "1d" or a number of seconds into whole seconds. */
export function durationSeconds(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$/.exec(value) : null;
  if (!m) throw new FlotillaError('bad-message', `${field}: "${String(value).slice(0, 32)}" is not a duration: write it like 30s, 5m, 1h or 1d`);
  return Math.round(Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd']);
}

/** `"> 80"`, `">=90.5"`: the comparison and the threshold in one field. */
function condition(text: unknown): { op: string; threshold: unknown } {
  const m = typeof text === 'string' ? /^\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*%?\s*$/.exec(text) : null;
  if (!m)
    throw new FlotillaError(
      'bad-message',
      `when: "${String(text).slice(0, 32)}" is not a condition: write it like '> 80' or '<= 10' (${COMPARISONS.join(' ')})`,
    );
  return { op: m[1]!, threshold: Number(m[2]) };
}

function rule(o: Obj, at: number): AlertRuleDoc {
  const cond = o['when'] !== undefined ? condition(o['when']) : { op: o['op'], threshold: o['threshold'] };
  const labels = o['labels'] === undefined ? {} : o['labels'];
  return parseAlertRule({
    type: 'alert',
    name: o['name'],
    target: o['target'] ?? '*',
    metric: o['metric'],
    op: cond.op,
    threshold: cond.threshold,
    forSec: durationSeconds(o['for'] ?? o['forSec'] ?? 0, 'for'),
    severity: o['severity'] ?? 'warning',
    labels: isObj(labels) ? Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, typeof v === 'string' ? v : String(v)])) : labels,
    repeatSec: durationSeconds(o['repeat'] ?? o['repeatSec'] ?? 0, 'repeat'),
    channels: o['channels'] ?? [],
    ...(o['summary'] === undefined ? {} : { summary: o['summary'] }),
    enabled: o['enabled'] ?? true,
    deleted: false,
    at,
  });
}

function channel(o: Obj, at: number): ChannelDoc {
  const hook = o['webhook'];
  const mail = o['email'];
  const push = o['push'];
  if ([hook, mail, push].filter((v) => v !== undefined).length !== 1) throw new FlotillaError('bad-message', 'a channel has one of webhook:, email: or push:');
  if (push !== undefined) {
    // `push: true`, `push: {}` or `push: { devices: [...] }`; a bare list names the devices.
    const p = push === true || push === null ? {} : Array.isArray(push) ? { devices: push } : push;
    if (!isObj(p)) throw new FlotillaError('bad-message', 'push: write it as push: true or push: { devices: [a device id or name] }');
    return parseChannel({ type: 'channel', name: o['name'], kind: 'push', push: p, deleted: false, at });
  }
  if (hook !== undefined) {
    const h = isObj(hook) ? hook : { url: hook };
    return parseChannel({ type: 'channel', name: o['name'], kind: 'webhook', webhook: { format: 'generic', ...h }, deleted: false, at });
  }
  const m = isObj(mail) ? mail : {};
  const to = typeof m['to'] === 'string' ? [m['to']] : m['to'];
  // Sent by the signaling server: no SMTP settings here, so no defaults either (the validator refuses any given).
  if (m['via'] === 'server') return parseChannel({ type: 'channel', name: o['name'], kind: 'email', email: { ...m, to }, deleted: false, at });
  const port = m['port'] ?? 587;
  return parseChannel({ type: 'channel', name: o['name'], kind: 'email', email: { secure: port === 465, ...m, port, to }, deleted: false, at });
}

/** The rules and channels a file holds; a mistake is one sentence naming the document and the field. */
export function parseAlertFile(text: string, at: number): (AlertRuleDoc | ChannelDoc)[] {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  const out: (AlertRuleDoc | ChannelDoc)[] = [];
  for (const [i, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    const where = `document ${i + 1}`;
    if (doc.errors.length > 0) throw new FlotillaError('bad-message', `${where}: not valid YAML or JSON (${doc.errors[0]!.message.split('\n')[0]})`);
    const raw: unknown = doc.toJS();
    if (raw === null || raw === undefined) continue;
    if (!isObj(raw)) throw new FlotillaError('bad-message', `${where}: expected a mapping with kind: alert or kind: channel`);
    try {
      if (raw['kind'] === 'channel') out.push(channel(raw, at));
      else if (raw['kind'] === 'alert' || raw['kind'] === undefined) out.push(rule(raw, at));
      else throw new FlotillaError('bad-message', `kind: "${String(raw['kind']).slice(0, 32)}" is neither alert nor channel`);
    } catch (error) {
      const detail = error instanceof FlotillaError ? (error.detail ?? error.message) : String(error);
      const name = typeof raw['name'] === 'string' ? ` (${raw['name'].slice(0, 64)})` : '';
      throw new FlotillaError('bad-message', `${where}${name}: ${detail}`);
    }
  }
  if (out.length === 0) throw new FlotillaError('bad-message', 'the file holds no rule or channel');
  return out;
}
