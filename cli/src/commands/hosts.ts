// flotilla hosts: the inventory, with how each host is reached when probed.

import { openHome } from '../home.ts';
import { openFleet } from '../fleet.ts';
import { pingHost } from '../../../shared/controller/operations.ts';

import { ago, color, duration, statusColor, table } from '../output.ts';
import type { CommandContext } from './context.ts';
import type { PathInfo } from '../../../shared/session/transport.ts';
import { markInventoryRefreshed, staleInventory } from './hosts-stale.ts';
import { applyToHome, loadFleetState, publishTokenUses, syncFleetState } from '../fleet-state.ts';

export async function hostsCommand(ctx: CommandContext): Promise<number> {
  const home = await openHome();
  // Decisions made on other devices (the fleet state) fold into hosts.json before it is shown.
  const state = await loadFleetState(home);
  const fleet = await openFleet(home, ctx.fleetOptions).catch((error: unknown) => error as Error);
  if (fleet instanceof Error) {
    await applyToHome(state).catch(() => undefined);
    return staleInventory(ctx, home, fleet);
  }
  try {
    const [presence] = await Promise.all([fleet.presence(), syncFleetState(state, ctx.err)]);
    await markInventoryRefreshed(home);
    const acceptedBefore = (await home.hosts.all()).filter((r) => r.status === 'accepted').length;
    await fleet.discover(presence, ctx.flags.refresh === true);
    // Again: discovery may have met a host removed on another device.
    await applyToHome(state);
    // Hosts that joined with a token just now: an admin adds them to the fleet keyring (tag windows, documents).
    if (state.live && (await home.hosts.all()).filter((r) => r.status === 'accepted').length > acceptedBefore) {
      await syncFleetState(state, ctx.err, true);
      await publishTokenUses(state, ctx.err);
    }
    const removed = new Set([...state.sync.hosts()].filter(([, d]) => d.decision === 'removed').map(([id]) => id));
    for (const id of home.device.revocation?.body.revoked ?? []) removed.add(id);
    const records = await home.hosts.all();
    for (const p of presence.values()) {
      if (!records.some((r) => r.id === p.id) && !removed.has(p.id))
        records.push({ id: p.id, status: 'pending', signPub: '', encPub: '', facts: undefined, firstSeen: p.lastSeen, lastSeen: p.lastSeen });
    }
    const rows = records.map((r) => {
      const p = presence.get(r.id);
      const state = r.status === 'accepted' ? (p?.online ? 'online' : 'offline') : r.status;
      return { record: r, state, lastSeen: Math.max(p?.lastSeen ?? 0, r.lastSeen) };
    });
    // How each host is reached: probed on request, or for connections already open (warm mode).
    const open = new Set(fleet.openLinks());
    const probe = rows.filter((r) => r.state === 'online' && (ctx.flags.probe === true || open.has(r.record.id))).map((r) => r.record.id);
    const paths = new Map<string, { path: PathInfo | null; rttMs: number | null; error?: string }>();
    for (const result of await fleet.controller.fanOut(probe, (id) => pingHost(fleet.controller, id))) {
      const v = result.ok ? result.value : undefined;
      paths.set(
        result.hostId,
        v?.status === 'ok' && v.data
          ? { path: (v.data['path'] as PathInfo | null) ?? null, rttMs: typeof v.data['rttMs'] === 'number' ? v.data['rttMs'] : null }
          : { path: null, rttMs: null, error: v?.error?.code ?? (result.ok ? 'failed' : result.error.code) },
      );
    }
    const showPaths = paths.size > 0;
    if (ctx.flags.json) {
      ctx.out(
        JSON.stringify(
          rows.map(({ record, state, lastSeen }) => ({
            id: record.id,
            status: state,
            lastSeen,
            ...record.facts,
            signPub: undefined,
            encPub: undefined,
            ...(paths.has(record.id) ? { connection: paths.get(record.id) } : {}),
          })),
          null,
          1,
        ),
      );
      return 0;
    }
    if (!rows.length) {
      ctx.out('No hosts yet. Create a join token with `flotilla token create` and run the printed command on a host.');
      return 0;
    }
    ctx.out(
      table(
        ['ID', 'HOSTNAME', 'STATUS', 'OS', 'ARCH', 'REGION', 'IPS', 'VERSION', 'LAST SEEN', 'TAGS', ...(showPaths ? ['PATH', 'RTT'] : [])],
        rows.map(({ record: r, state, lastSeen }) => [
          r.id.slice(0, 8),
          r.facts?.hostname ?? '?',
          statusColor(state),
          r.facts?.os ?? '?',
          r.facts?.arch ?? '?',
          r.facts?.region ?? '-',
          (r.facts?.ips ?? []).slice(0, 2).join(',') || '-',
          r.facts?.agentVersion ?? '?',
          state === 'online' ? 'now' : ago(lastSeen),
          Object.entries(r.facts?.tags ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(' ') || '-',
          ...(showPaths ? connectionCells(paths.get(r.id)) : []),
        ]),
      ),
    );
    const pending = rows.filter((r) => r.state === 'pending');
    if (pending.length) ctx.err(color(33, `${pending.length} pending host(s): accept with \`flotilla accept <id>\` or reject with \`flotilla reject <id>\``));
    return 0;
  } finally {
    await fleet.close();
  }
}

/** "direct srflx->srflx/udp", "relayed relay->prflx/tcp": how the bytes go, and over what. */
export function describePath(path: unknown): string {
  if (!path || typeof path !== 'object') return '?';
  const p = path as PathInfo;
  return `${p.relayed ? 'relayed' : 'direct'} ${p.local}->${p.remote}/${p.protocol}`;
}

function connectionCells(c: { path: PathInfo | null; rttMs: number | null; error?: string } | undefined): string[] {
  if (!c) return ['-', '-'];
  if (c.error) return [color(31, c.error), '-'];
  return [describePath(c.path), c.rttMs === null ? '-' : duration(c.rttMs)];
}
