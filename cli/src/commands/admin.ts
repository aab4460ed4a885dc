// Fleet administration: init, join tokens, accepting/rejecting hosts, tags, devices.

import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { addDevice, createFleet } from '../../../shared/identity/fleet.ts';
import { createJoinToken, encodeJoinToken } from '../../../shared/identity/tokens.ts';
import { issueRevocationList, ROLES, type Role } from '../../../shared/identity/certs.ts';
import { publishRevocation } from '../../../shared/controller/signal-api.ts';
import { homeDir, openHome, saveDevice, type Home } from '../home.ts';
import { openFleet } from '../fleet.ts';
import { ago, table, statusColor } from '../output.ts';
import { decisionDoc, openFleetState, writeDocument } from '../fleet-state.ts';
import { parseDuration } from '../duration.ts';
import type { CommandContext } from './context.ts';

export { parseDuration };

export async function initCommand(ctx: CommandContext): Promise<number> {
  const signal = ctx.flags.signal;
  if (!signal)
    throw new FlotillaError('usage', "flotilla init needs the signaling server's URL, as in: flotilla init --signal http://127.0.0.1:9000/ [--name NAME]");
  if (!/^https?:\/\//.test(signal))
    throw new FlotillaError('usage', `the signaling URL must start with http:// or https://, as in --signal http://${signal.replace(/^[a-z]+:\/\//i, '')}`);
  const dir = homeDir();
  if (existsSync(join(dir, 'device.json')) && !ctx.flags.force) {
    throw new FlotillaError('bad-config', `${dir} already holds a device; pass --force to replace it (this forgets the fleet key!)`);
  }
  const device = await createFleet(ctx.flags.name ?? `cli@${hostname()}`, true);
  await saveDevice(dir, device, signal.endsWith('/') ? signal : signal + '/');
  ctx.out(
    ctx.flags.json
      ? JSON.stringify({ fleet: device.fleetId, device: device.id, home: dir })
      : `Created fleet ${device.fleetId}\nThis device: ${device.id} (admin)\nStored in ${dir}\nNext: flotilla token create`,
  );
  return 0;
}

export async function tokenCommand(ctx: CommandContext): Promise<number> {
  const home = await openHome();
  const [sub = 'list', arg] = ctx.args;
  if (sub === 'create') {
    if (!home.device.fleetKeys) throw new FlotillaError('forbidden', 'only a device holding the fleet key can create join tokens');
    const ttl = parseDuration(ctx.flags.ttl ?? '24h');
    if (ttl <= 0)
      throw new FlotillaError(
        'usage',
        `--ttl ${ctx.flags.ttl ?? ''} would make a token that has already expired; give it a lifetime, as in: flotilla token create --ttl 24h`,
      );
    const maxUses = ctx.flags.uses === undefined ? 1 : Number(ctx.flags.uses);
    if (!Number.isInteger(maxUses) || maxUses < 1)
      throw new FlotillaError('usage', `--uses ${ctx.flags.uses} must be a positive whole number of hosts, as in --uses 3`);
    const token = createJoinToken(home.signal, home.device.fleetId, ttl);
    await home.tokens.put({ tid: token.tid, secret: token.secret, exp: token.exp, createdAt: Date.now(), revoked: false, usedBy: [], maxUses });
    const text = encodeJoinToken(token);
    // A token document, so the fleet's other devices list it (and can enroll a host holding it).
    const state = await openFleetState(home, ctx.err);
    await writeDocument(
      state,
      { type: 'token', tid: token.tid, token: text, uses: maxUses, used: [], revoked: false, exp: token.exp, at: Date.now() },
      token.tid,
      ctx.err,
    );
    const install = `curl -fsSL ${home.signal}agent/flotilla-agent.mjs -o flotilla-agent.mjs && node flotilla-agent.mjs join ${text}`;
    ctx.out(
      ctx.flags.json
        ? JSON.stringify({ tid: token.tid, token: text, expires: token.exp, install })
        : `Token ${token.tid} for ${maxUses} host(s), expires ${new Date(token.exp).toISOString()}:\n${text}\n\nOn the new host:\n  ${install}`,
    );
    return 0;
  }
  if (sub === 'list') {
    // Read first: a damaged tokens.json is reported as such. Tokens made on other devices (the PWA's) are folded in by the sync.
    await home.tokens.all();
    await openFleetState(home, ctx.err);
    const tokens = await home.tokens.all();
    if (ctx.flags.json) ctx.out(JSON.stringify(tokens.map(({ secret: _s, ...t }) => t)));
    else {
      const state = (t: (typeof tokens)[number]) =>
        t.revoked ? 'revoked' : t.exp < Date.now() ? 'expired' : t.usedBy.length >= (t.maxUses ?? 1) ? 'used up' : 'valid';
      ctx.out(
        table(
          ['TOKEN', 'EXPIRES', 'STATE', 'USES', 'USED BY'],
          tokens.map((t) => [
            t.tid,
            new Date(t.exp).toISOString(),
            state(t),
            `${t.usedBy.length}/${t.maxUses ?? 1}`,
            t.usedBy.map((u) => u.slice(0, 8)).join(',') || '-',
          ]),
        ),
      );
    }
    return 0;
  }
  if (sub === 'revoke') {
    const token = arg ? await home.tokens.get(arg) : undefined;
    if (!token) throw new FlotillaError('bad-token', `no token ${arg ?? '(missing id)'}; see flotilla token list`);
    await home.tokens.put({ ...token, revoked: true });
    const state = await openFleetState(home, ctx.err);
    const doc = state.sync.tokens().find((t) => t.tid === token.tid);
    if (doc) await writeDocument(state, { ...doc, revoked: true, at: Date.now() }, token.tid, ctx.err);
    ctx.out(`Revoked token ${token.tid}`);
    return 0;
  }
  throw new FlotillaError(
    'usage',
    `"${sub}" is not a token command: use flotilla token create [--ttl 24h] [--uses 1], flotilla token list, or flotilla token revoke <token-id>`,
  );
}

/** The id of the host a command names (a full id, an id prefix or a hostname), from the home's inventory. */
export async function findHost(home: Home, text: string | undefined): Promise<string> {
  if (!text) throw new FlotillaError('usage', "name a host by its id (or the id's first characters) or its hostname, as `flotilla hosts` lists them");
  const all = await home.hosts.all();
  const matches = all.filter((h) => h.id.startsWith(text) || h.facts?.hostname === text);
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length > 1) throw new FlotillaError('usage', `"${text}" is ambiguous: ${matches.map((m) => m.id.slice(0, 10)).join(', ')}; give more of the id`);
  if (text.length === 52) return text;
  throw new FlotillaError('no-match', `no known host "${text}"; run flotilla hosts first`);
}

export async function acceptCommand(ctx: CommandContext, reject: boolean): Promise<number> {
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  const decided: string[] = [];
  try {
    for (const text of ctx.args) {
      const id = await findHost(home, text);
      if (reject) {
        await fleet.controller.reject(id);
        ctx.out(`Rejected ${id.slice(0, 8)}`);
      } else {
        const record = await fleet.controller.accept(id);
        ctx.out(`Accepted ${id.slice(0, 8)} (${record.facts?.hostname ?? '?'})`);
      }
      decided.push(id);
    }
    return 0;
  } finally {
    await fleet.close();
    // Host decision documents: every device of the fleet shows the same decision.
    if (decided.length > 0) {
      const state = await openFleetState(home, ctx.err);
      for (const id of decided) {
        const doc = await decisionDoc(home, id, reject ? 'rejected' : 'accepted');
        if ((await writeDocument(state, doc, id, ctx.err)) === 'failed') break;
      }
    }
  }
}

export async function deviceCommand(ctx: CommandContext): Promise<number> {
  const home = await openHome();
  const [sub, arg] = ctx.args;
  if (sub === 'add') {
    const role = (ctx.flags.role ?? 'operator') as Role;
    if (!ROLES.includes(role)) throw new FlotillaError('usage', `--role ${role} is not a role: use one of ${ROLES.join(', ')}`);
    if (!arg || !ctx.flags.home)
      throw new FlotillaError(
        'usage',
        'flotilla device add needs a name and a home folder for the new device, as in: flotilla device add laptop --home ./laptop-home [--role operator] [--ttl 90d]',
      );
    const noShell = ctx.flags['no-shell'] === true;
    const device = await addDevice(home.device, arg, role, {
      ...(ctx.flags.ttl ? { ttlMs: parseDuration(ctx.flags.ttl) } : {}),
      ...(noShell ? { deny: ['shell' as const] } : {}),
    });
    await saveDevice(ctx.flags.home, device, home.signal);
    ctx.out(
      `Issued ${role} device ${device.id} "${arg}"${noShell ? ' without shell access' : ''} into ${ctx.flags.home} (use it with FLOTILLA_HOME=${ctx.flags.home})`,
    );
    return 0;
  }
  if (sub === 'revoke') {
    if (!home.device.fleetKeys) throw new FlotillaError('forbidden', 'only a device holding the fleet key can revoke devices');
    if (!arg || arg.length !== 52)
      throw new FlotillaError('usage', 'flotilla device revoke needs the full 52-character device id, as in: flotilla device revoke <device-id>');
    const current = home.device.revocation;
    const revoked = [...new Set([...(current?.body.revoked ?? []), arg])];
    const list = await issueRevocationList(home.device.fleetKeys.privateKey, home.device.fleetId, (current?.body.version ?? 0) + 1, revoked);
    await home.saveRevocation(list);
    await publishRevocation(home.signal, home.device.fleetPub, list);
    ctx.out(`Revoked ${arg.slice(0, 8)} (revocation list version ${list.body.version}, published to the signaling server)`);
    return 0;
  }
  if (sub === 'show' || sub === undefined) {
    const d = home.device;
    ctx.out(
      ctx.flags.json
        ? JSON.stringify({
            id: d.id,
            fleet: d.fleetId,
            name: d.cert.body.name,
            role: d.cert.body.role,
            ...(d.cert.body.deny ? { deny: d.cert.body.deny } : {}),
            fleetKey: !!d.fleetKeys,
          })
        : `Device ${d.id}\nName   ${d.cert.body.name}\nRole   ${d.cert.body.role}${d.cert.body.deny ? ` (denied: ${d.cert.body.deny.join(', ')})` : ''}\nFleet  ${d.fleetId}\nSignal ${home.signal}\nFleet key: ${d.fleetKeys ? 'held here' : 'not here'}\nRevoked devices: ${d.revocation?.body.revoked.length ?? 0} (${d.revocation ? ago(d.revocation.body.iat) : 'none'})`,
    );
    return 0;
  }
  throw new FlotillaError(
    'usage',
    `"${sub}" is not a device command: use flotilla device show, flotilla device add <name> --home DIR [--role R], or flotilla device revoke <id>`,
  );
}

export { statusColor };
