// flotilla remove <host…>: takes hosts out of the fleet for every device. An admin device (with
// the fleet key) writes the `removed` host decision, adds the hosts to the fleet's revocation
// list (published as `device revoke` does, so the signaling server and the store refuse them),
// forgets them locally, and syncs: its FleetSync rotates the fleet keyring, so a removed host
// cannot open documents written after its removal.

import { FlotillaError } from '../../../shared/wire/errors.ts';
import { issueRevocationList } from '../../../shared/identity/certs.ts';
import { publishRevocation } from '../../../shared/controller/signal-api.ts';
import { openHome } from '../home.ts';
import { decisionDoc, openFleetState, storeProblem, syncFleetState, writeDocument } from '../fleet-state.ts';
import { findHost } from './admin.ts';
import type { CommandContext } from './context.ts';

export async function removeCommand(ctx: CommandContext): Promise<number> {
  if (ctx.args.length === 0)
    throw new FlotillaError('usage', 'flotilla remove needs a host, as in: flotilla remove web-3 (an id, its first characters, or a hostname)');
  const home = await openHome();
  const fleetKeys = home.device.fleetKeys;
  if (!fleetKeys) throw new FlotillaError('forbidden', 'only an admin device holding the fleet key can remove hosts');
  // Synced first: a host accepted on another device is known here only through its document.
  const state = await openFleetState(home, ctx.err);
  const ids: string[] = [];
  for (const text of ctx.args) {
    const id = await findHost(home, text);
    if (!ids.includes(id)) ids.push(id);
  }
  const names = new Map(
    await Promise.all(ids.map(async (id) => [id, (await home.hosts.get(id))?.facts?.hostname ?? state.sync.hosts().get(id)?.name] as const)),
  );
  // The revocation list first: once it is published the store refuses the host's reads.
  const current = home.device.revocation;
  const revoked = [...new Set([...(current?.body.revoked ?? []), ...ids])];
  const list = await issueRevocationList(fleetKeys.privateKey, home.device.fleetId, (current?.body.version ?? 0) + 1, revoked);
  await home.saveRevocation(list);
  let published = true;
  try {
    await publishRevocation(home.signal, home.device.fleetPub, list);
  } catch (error) {
    published = false;
    ctx.err(`the revocation list was kept on this device but not published: ${storeProblem(error)}; run flotilla remove again when the server is back`);
  }
  let written = 0;
  for (const id of ids) {
    const doc = await decisionDoc(home, id, 'removed');
    if ((await writeDocument(state, doc, id, ctx.err)) === 'written') written++;
    await home.hosts.remove(id);
  }
  // Rotates the fleet keyring (the removed hosts are on the revocation list now).
  const synced = await syncFleetState(state, ctx.err, true);
  if (ctx.flags.json) {
    ctx.out(JSON.stringify({ removed: ids, revocation: list.body.version, published, documents: written, keyringRotated: synced }));
  } else {
    for (const id of ids) ctx.out(`Removed ${id.slice(0, 8)}${names.get(id) ? ` (${names.get(id)})` : ''}`);
    ctx.err(
      `revocation list version ${list.body.version}${published ? ' published' : ' NOT published'}; ${written}/${ids.length} removal(s) stored for the fleet's other devices${synced ? '; fleet keyring rotated' : ''}`,
    );
  }
  return published && written === ids.length ? 0 : 1;
}
