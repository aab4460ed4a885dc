// flotilla alerts offline save <name> <selector> --for 10m --webhook URL [--secret S] [--format F]
// [--email a@b]… | list | rm <name>: "host offline for N minutes" rules, which the signaling server evaluates
// (a host cannot see itself offline). The server cannot read tags or facts, so the selector is
// resolved here, against this device's inventory, when the rule is saved: the rule holds host ids.

import { createPeerCredential } from '../../../shared/identity/tokens.ts';
import { call } from '../../../shared/controller/signal-api.ts';
import { toSelectable, uniqueLabels, type HostRecord } from '../../../shared/controller/hosts.ts';
import { parseSelector, resolveSelector, savedNames } from '../../../shared/controller/selector.ts';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { isObj, type Obj } from '../../../shared/wire/validate.ts';
import { isMailAddress } from '../../../shared/alerts/mail-address.ts';
import { openHome, type Home } from '../home.ts';
import { applyToHome, loadFleetState } from '../fleet-state.ts';
import { parseDuration } from '../duration.ts';
import { ago, color, table } from '../output.ts';
import { stringFlag, type CommandContext } from './context.ts';

const USAGE =
  'flotilla alerts offline save <name> <selector> --for 10m [--webhook URL [--secret S] [--format generic|slack|dingtalk]] [--email a@b]… | list | rm <name>';
const FORMATS = ['generic', 'slack', 'dingtalk'];

interface ListedRule {
  name: string;
  hosts: string[];
  minutes: number;
  webhook?: { url: string; format: string; secret?: string };
  email?: { to: string[] };
  at: number;
  firing: { host: string; since: number; firedAt: number }[];
}

/** An admin device's credential for the server's offline-rule routes (the presence credential's form). */
async function authorization(home: Home): Promise<Record<string, string>> {
  const { device } = home;
  if (device.cert.body.role !== 'admin')
    throw new FlotillaError(
      'forbidden',
      `this device is ${device.cert.body.role === 'operator' ? 'an operator' : 'a viewer'}: offline rules need an admin device`,
    );
  const credential = await createPeerCredential(device.keys, {
    purpose: 'presence',
    kind: 'device',
    fleet: device.fleetId,
    ...device.pub,
    cert: JSON.stringify(device.cert),
    fleetPub: device.fleetPub,
  });
  return { authorization: `Flotilla ${credential}` };
}

/** The accepted hosts (decisions made on other devices folded in first) and their display names. */
async function inventory(home: Home): Promise<{ accepted: HostRecord[]; names: Map<string, string> }> {
  await applyToHome(await loadFleetState(home)).catch(() => undefined);
  const accepted = (await home.hosts.all()).filter((r) => r.status === 'accepted');
  return { accepted, names: uniqueLabels(accepted) };
}

/** Whole minutes from --for; the server counts in minutes. */
function minutesOf(text: string | undefined): number {
  if (text === undefined) throw new FlotillaError('usage', `say after how long, as in --for 10m: ${USAGE}`);
  const ms = parseDuration(text);
  if (ms < 60_000 || ms % 60_000 !== 0) throw new FlotillaError('usage', `--for ${text}: offline rules count whole minutes, from 1m (such as 5m, 90m or 2h)`);
  return ms / 60_000;
}

async function save(ctx: CommandContext, home: Home, name: string, selector: string): Promise<number> {
  const minutes = minutesOf(stringFlag(ctx, 'for'));
  const url = stringFlag(ctx, 'webhook');
  const emailFlag = ctx.flags['email'];
  const mailTo = (Array.isArray(emailFlag) ? emailFlag : typeof emailFlag === 'string' ? [emailFlag] : []).flatMap((a) => a.split(',')).map((a) => a.trim());
  if (!url && mailTo.length === 0)
    throw new FlotillaError('usage', `say whom to tell, as in --webhook https://hooks.example.com/… or --email oncall@example.com: ${USAGE}`);
  const bad = mailTo.find((a) => !isMailAddress(a));
  if (bad !== undefined) throw new FlotillaError('usage', `--email ${bad}: write one plain address per --email, such as oncall@example.com`);
  const format = stringFlag(ctx, 'format') ?? 'generic';
  if (!FORMATS.includes(format)) throw new FlotillaError('usage', `--format ${format}: use generic, slack or dingtalk`);
  const secret = stringFlag(ctx, 'secret');
  const ast = parseSelector(selector);
  if (ast.kind === 'oneOf') throw new FlotillaError('usage', 'one-of(…) picks an online host at random; an offline rule needs the hosts themselves');
  const { accepted, names } = await inventory(home);
  if (accepted.length === 0) throw new FlotillaError('no-match', 'this fleet has no accepted hosts yet (see flotilla hosts)');
  const lookup = savedNames(ast).length > 0 ? await home.selectors.lookup() : undefined;
  const hosts = resolveSelector(
    ast,
    accepted.map((r) => toSelectable(r, false)),
    lookup ? { lookup } : {},
  ).map((h) => h.id);
  const answer = await call(home.signal, `/api/offline-rules/${encodeURIComponent(name)}`, {
    method: 'PUT',
    headers: { ...(await authorization(home)), 'content-type': 'application/json' },
    body: JSON.stringify({
      hosts,
      minutes,
      ...(url ? { webhook: { url, format, ...(secret ? { secret } : {}) } } : {}),
      ...(mailTo.length ? { email: { to: mailTo } } : {}),
    }),
  });
  if (!answer) throw new FlotillaError('signaling-failed', `${home.signal} has no offline rules (an older signaling server): upgrade it`);
  const email = mailTo.length ? { to: mailTo } : undefined;
  if (ctx.flags.json)
    ctx.out(
      JSON.stringify({
        saved: {
          name,
          selector,
          hosts,
          minutes,
          ...(url ? { webhook: { url, format, secret: secret ? '***' : undefined } } : {}),
          ...(email ? { email } : {}),
        },
      }),
    );
  else
    ctx.out(
      `Saved offline rule ${name}: ${hosts.length} host(s) (${hosts.map((h) => names.get(h) ?? h.slice(0, 8)).join(', ')}) offline for ${minutes} min → ${[url, email ? `mail ${mailTo.join(', ')} (sent by the signaling server)` : undefined].filter(Boolean).join(' and ')}`,
    );
  return 0;
}

function parseList(body: Obj | undefined): ListedRule[] {
  const rules = body?.['rules'];
  if (!Array.isArray(rules)) throw new FlotillaError('signaling-failed', 'the server answered without a rules list');
  return rules.filter(isObj).map((r) => r as unknown as ListedRule);
}

/** `alerts offline list | save | rm`. */
export async function offlineCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [sub = 'list', name, ...words] = args;
  const home = await openHome();
  if (sub === 'save') {
    const selector = [...words, ...ctx.rest].join(' ').trim();
    if (!name || !selector) throw new FlotillaError('usage', `alerts offline save takes a name and a selector: ${USAGE}`);
    return save(ctx, home, name, selector);
  }
  if (sub === 'rm' || sub === 'remove') {
    if (!name || words.length > 0) throw new FlotillaError('usage', `alerts offline rm takes one name: ${USAGE}`);
    const answer = await call(home.signal, `/api/offline-rules/${encodeURIComponent(name)}`, { method: 'DELETE', headers: await authorization(home) });
    if (!answer) throw new FlotillaError('usage', `no offline rule is named ${name}; see flotilla alerts offline list`);
    ctx.out(ctx.flags.json ? JSON.stringify({ removed: name }) : `Removed offline rule ${name}`);
    return 0;
  }
  if (sub !== 'list' && sub !== 'ls') throw new FlotillaError('usage', `"${sub}" is not an alerts offline command: use ${USAGE}`);
  if (name) throw new FlotillaError('usage', `alerts offline list takes no argument: ${USAGE}`);
  const rules = parseList(await call(home.signal, '/api/offline-rules', { headers: await authorization(home) }));
  const { names } = await inventory(home);
  const label = (id: string) => names.get(id) ?? id.slice(0, 8);
  if (ctx.flags.json) {
    ctx.out(JSON.stringify(rules.map((r) => ({ ...r, hostnames: r.hosts.map(label) }))));
    return 0;
  }
  if (rules.length === 0) {
    ctx.out('No offline rules. Save one with: flotilla alerts offline save web-down "tag:role=web" --for 10m --webhook https://…');
    return 0;
  }
  ctx.out(
    table(
      ['NAME', 'HOSTS', 'FOR', 'NOTIFIES', 'FIRING'],
      rules.map((r) => [
        r.name,
        r.hosts.length > 4 ? `${r.hosts.slice(0, 3).map(label).join(', ')} +${r.hosts.length - 3}` : r.hosts.map(label).join(', '),
        `${r.minutes}m`,
        [r.webhook ? `${r.webhook.format} ${r.webhook.url}` : '', r.email ? `mail ${r.email.to.join(', ')}` : ''].filter(Boolean).join('; '),
        r.firing.length ? color(31, r.firing.map((f) => `${label(f.host)} (offline since ${ago(f.since)})`).join(', ')) : '-',
      ]),
    ),
  );
  return 0;
}
