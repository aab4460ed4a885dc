// flotilla alerts list | rules | history | save <file> | rm <name> | silence <rule|selector> | silences:
// alert rules, channels and silences are fleet documents this device writes to the store; what
// fired, where and when comes from the `alertstate` documents each host leaves there for the
// devices (docs/alerts.md). Nothing here dials a host: it works while every host is offline.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import type { AlertEvent, AlertRuleDoc, AlertStateDoc, ChannelDoc, SilenceDoc } from '../../../shared/alerts/documents.ts';
import { parseAlertFile } from '../../../shared/alerts/rule-file.ts';
import type { OpenedDoc } from '../../../shared/store/fleet-sync.ts';
import { parseSelector } from '../../../shared/controller/selector.ts';
import { openHome, type Home } from '../home.ts';
import { openFleetState, storeProblem, type FleetState } from '../fleet-state.ts';
import { parseDuration } from '../duration.ts';
import { ago, color, table } from '../output.ts';
import { stringFlag, type CommandContext } from './context.ts';
import { offlineCommand } from './offline.ts';
import { serverMailNote } from './server-mail-note.ts';

const USAGE =
  'flotilla alerts list | rules | history [--since 24h] [--host H] | save <file.yaml> | rm <name> | silence <rule|selector> --for 1h [--comment C] | silences | offline save|list|rm';

type Doc<T> = OpenedDoc & { payload: T };

function docs<T extends { type: string }>(state: FleetState, type: T['type']): Doc<T>[] {
  return state.sync.docsOf(type as never) as Doc<T>[];
}

/** Alert states as their hosts wrote them: a document signed by any other party is left out. */
export function alertStates(state: FleetState): AlertStateDoc[] {
  return docs<AlertStateDoc>(state, 'alertstate')
    .filter((d) => d.signer.kind === 'host' && d.signer.id === d.payload.host)
    .map((d) => d.payload);
}

function live<T extends { deleted: boolean }>(list: Doc<T>[]): T[] {
  return list.map((d) => d.payload).filter((p) => !p.deleted);
}

function condition(r: AlertRuleDoc): string {
  return `${r.metric} ${r.op} ${r.threshold}${r.forSec ? ` for ${r.forSec}s` : ''}`;
}

function fmt(value: number | undefined): string {
  return value === undefined ? '-' : String(Math.round(value * 100) / 100);
}

/** One line of history: the state change or the notification. */
export function eventText(e: AlertEvent): string {
  if (e.kind === 'state') return `${e.from ?? '?'} → ${e.to ?? '?'}`;
  if (e.silenced) return `${e.event} not sent (silenced)`;
  return `${e.event} to ${e.channel ?? '?'}: ${e.ok ? 'sent' : `failed${e.error ? ` (${e.error})` : ''}`}${e.attempts && e.attempts > 1 ? ` after ${e.attempts} attempts` : ''}`;
}

function requireWriter(home: Home): void {
  const role = home.device.cert.body.role;
  if (role !== 'operator' && role !== 'admin')
    throw new FlotillaError('forbidden', `this device is a ${role}: alert rules, channels and silences need an operator or admin device`);
}

async function write(state: FleetState, payload: AlertRuleDoc | ChannelDoc | SilenceDoc, name: string): Promise<void> {
  let written: boolean;
  try {
    written = await state.sync.write(payload, name);
  } catch (error) {
    throw new FlotillaError('signaling-failed', `the ${payload.type} ${name} was not saved: ${storeProblem(error)}`);
  }
  if (!written)
    throw new FlotillaError('conflict', `another device changed the ${payload.type} ${name} more recently; its change stands (see flotilla alerts rules)`);
}

export async function alertsCommand(ctx: CommandContext): Promise<number> {
  const [sub = 'list', arg, ...extra] = ctx.args;
  const json = !!ctx.flags.json;
  if (sub === 'offline') return offlineCommand(ctx, ctx.args.slice(1));
  if (!['list', 'ls', 'rules', 'history', 'save', 'rm', 'silence', 'silences'].includes(sub))
    throw new FlotillaError('usage', `"${sub}" is not an alerts command: use ${USAGE}`);
  if (['save', 'rm', 'silence'].includes(sub) && (!arg || extra.length > 0)) throw new FlotillaError('usage', `alerts ${sub} takes one argument: ${USAGE}`);
  if (sub === 'silence' && !stringFlag(ctx, 'for')) throw new FlotillaError('usage', `say for how long, as in: flotilla alerts silence ${arg} --for 1h`);
  const home = await openHome();
  if (['save', 'rm', 'silence'].includes(sub)) requireWriter(home);
  const state = await openFleetState(home, ctx.err);
  const now = Date.now();

  if (sub === 'save') {
    const path = resolve(ctx.cwd, arg!);
    const text = await readFile(path, 'utf8').catch((error: unknown) => {
      throw new FlotillaError('usage', `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    });
    let parsed: (AlertRuleDoc | ChannelDoc)[];
    try {
      parsed = parseAlertFile(text, now);
    } catch (error) {
      throw new FlotillaError('usage', `${path}: ${error instanceof FlotillaError ? (error.detail ?? error.message) : String(error)}`);
    }
    const channels = new Set([
      ...live(docs<ChannelDoc>(state, 'channel')).map((c) => c.name),
      ...parsed.filter((d) => d.type === 'channel').map((d) => d.name),
    ]);
    for (const d of parsed) {
      if (d.type === 'alert') parseSelector(d.target);
      const missing = d.type === 'alert' ? d.channels.filter((c) => !channels.has(c)) : [];
      if (missing.length)
        throw new FlotillaError('usage', `rule ${d.name} names channel ${missing.join(', ')}, which does not exist: save the channel first (kind: channel)`);
    }
    for (const d of parsed) await write(state, d, d.name);
    if (json) ctx.out(JSON.stringify({ saved: parsed.map((d) => ({ type: d.type, name: d.name })) }));
    else
      for (const d of parsed) ctx.out(d.type === 'alert' ? `Saved alert rule ${d.name}: ${condition(d)} on ${d.target}` : `Saved ${d.kind} channel ${d.name}`);
    const note = await serverMailNote(
      home.signal,
      parsed.filter((d): d is ChannelDoc => d.type === 'channel'),
    );
    if (note) ctx.err(note);
    return 0;
  }

  if (sub === 'rm') {
    const rule = live(docs<AlertRuleDoc>(state, 'alert')).find((r) => r.name === arg);
    const channel = live(docs<ChannelDoc>(state, 'channel')).find((c) => c.name === arg);
    if (!rule && !channel) throw new FlotillaError('usage', `no alert rule or channel named "${arg}"; see flotilla alerts rules`);
    if (rule) await write(state, { ...rule, deleted: true, at: now }, rule.name);
    if (channel) await write(state, { ...channel, deleted: true, at: now }, channel.name);
    if (json) ctx.out(JSON.stringify({ removed: arg, rule: !!rule, channel: !!channel }));
    else ctx.out(`Removed ${rule ? 'alert rule' : ''}${rule && channel ? ' and ' : ''}${channel ? 'channel' : ''} ${arg}`);
    return 0;
  }

  if (sub === 'silence') {
    const ms = parseDuration(stringFlag(ctx, 'for')!);
    if (ms <= 0) throw new FlotillaError('usage', '--for must be longer than 0');
    const isRule = docs<AlertRuleDoc>(state, 'alert').some((d) => d.payload.name === arg);
    const hostFlag = stringFlag(ctx, 'host');
    if (!isRule) parseSelector(arg!); // a selector: refused here with its sentence rather than on every host
    const silence: SilenceDoc = {
      type: 'silence',
      id: `s-${randomBytes(6).toString('hex')}`,
      ...(isRule ? { rule: arg! } : { host: arg! }),
      ...(isRule && hostFlag ? { host: hostFlag } : {}),
      until: now + ms,
      comment: stringFlag(ctx, 'comment') ?? '',
      by: home.device.cert.body.name,
      at: now,
    };
    await write(state, silence, silence.id);
    if (json) ctx.out(JSON.stringify(silence));
    else
      ctx.out(
        `Silenced ${silence.rule ? `rule ${silence.rule}` : ''}${silence.rule && silence.host ? ' on ' : ''}${silence.host ? `hosts ${silence.host}` : ''} until ${new Date(silence.until).toISOString()} (${silence.id})`,
      );
    return 0;
  }

  if (sub === 'silences') {
    const active = docs<SilenceDoc>(state, 'silence')
      .map((d) => d.payload)
      .filter((s) => s.until > now);
    if (json) ctx.out(JSON.stringify(active));
    else if (active.length === 0) ctx.out('No silences in force.');
    else
      ctx.out(
        table(
          ['ID', 'RULE', 'HOSTS', 'UNTIL', 'BY', 'COMMENT'],
          active.map((s) => [s.id, s.rule ?? '*', s.host ?? '*', new Date(s.until).toISOString(), s.by, s.comment]),
        ),
      );
    return 0;
  }

  if (sub === 'rules') {
    const rules = live(docs<AlertRuleDoc>(state, 'alert'));
    const channels = live(docs<ChannelDoc>(state, 'channel'));
    if (json) {
      // Secrets stay out of the listing: they are in the store for the hosts, not for the screen.
      const safe = channels.map((c) => ({
        ...c,
        ...(c.webhook ? { webhook: { ...c.webhook, secret: c.webhook.secret ? '***' : undefined } } : {}),
        ...(c.email && c.email.via !== 'server' ? { email: { ...c.email, pass: c.email.pass ? '***' : undefined } } : {}),
      }));
      ctx.out(JSON.stringify({ rules, channels: safe }));
      return 0;
    }
    if (rules.length === 0) ctx.out('No alert rules. Write one in a file (docs/alerts.md) and: flotilla alerts save rule.yaml');
    else
      ctx.out(
        table(
          ['RULE', 'CONDITION', 'TARGET', 'SEVERITY', 'REPEAT', 'CHANNELS', 'ENABLED'],
          rules.map((r) => [
            r.name,
            condition(r),
            r.target,
            r.severity,
            r.repeatSec ? `${r.repeatSec}s` : '-',
            r.channels.join(',') || '-',
            r.enabled ? 'yes' : 'no',
          ]),
        ),
      );
    if (channels.length)
      ctx.out(
        '\n' +
          table(
            ['CHANNEL', 'KIND', 'TO'],
            channels.map((c) => [
              c.name,
              c.webhook ? `webhook ${c.webhook.format}` : c.email?.via === 'server' ? 'email (server)' : c.kind,
              c.webhook ? c.webhook.url : c.push ? c.push.devices.join(', ') || 'every subscribed device' : (c.email?.to.join(', ') ?? ''),
            ]),
          ),
      );
    return 0;
  }

  const states = alertStates(state).filter(
    (s) => !stringFlag(ctx, 'host') || s.hostname === stringFlag(ctx, 'host') || s.host.startsWith(stringFlag(ctx, 'host')!),
  );
  if (sub === 'list' || sub === 'ls') {
    const now = states
      .filter((s) => s.installed && (s.state === 'firing' || s.state === 'pending'))
      .sort((a, b) => (a.state === b.state ? a.since - b.since : a.state === 'firing' ? -1 : 1));
    if (json) ctx.out(JSON.stringify(now.map(({ events: _events, ...s }) => s)));
    else if (now.length === 0) ctx.out(`No alerts firing or pending${state.live ? '' : ' (from the cache: the store could not be read)'}.`);
    else
      ctx.out(
        table(
          ['STATE', 'RULE', 'HOST', 'VALUE', 'SEVERITY', 'SINCE'],
          now.map((s) => [s.state === 'firing' ? color(31, 'firing') : color(33, 'pending'), s.rule, s.hostname, fmt(s.value), s.severity, ago(s.since)]),
        ),
      );
    return 0;
  }

  // history
  const since = stringFlag(ctx, 'since');
  const from = since ? now - parseDuration(since) : 0;
  const rows = states
    .flatMap((s) => s.events.map((e) => ({ ...e, rule: s.rule, host: s.host, hostname: s.hostname })))
    .filter((e) => e.at >= from)
    .sort((a, b) => b.at - a.at);
  if (json) ctx.out(JSON.stringify(rows));
  else if (rows.length === 0) ctx.out(`No alert history${since ? ` in the last ${since}` : ''}.`);
  else
    ctx.out(
      table(
        ['TIME', 'RULE', 'HOST', 'WHAT', 'VALUE'],
        rows.map((e) => [new Date(e.at).toISOString(), e.rule, e.hostname, eventText(e), fmt(e.value)]),
      ),
    );
  return 0;
}
