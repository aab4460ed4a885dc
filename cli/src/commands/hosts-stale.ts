// `flotilla hosts` when the signaling server cannot be reached: the inventory cached in the
// home's hosts.json, marked stale, with when it was last refreshed. Exit status 1: the answer
// is not live (the same as any command that could not reach the server).

import { stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import type { Home } from '../home.ts';
import { isOutOfReach } from '../signaling-wait.ts';
import { ago, color, statusColor, table } from '../output.ts';
import type { CommandContext } from './context.ts';

const inventoryPath = (home: Home) => join(home.dir, 'hosts.json');

/** Marks hosts.json as refreshed now (its mtime is what a stale listing reports). */
export async function markInventoryRefreshed(home: Home): Promise<void> {
  const now = new Date();
  await utimes(inventoryPath(home), now, now).catch(() => undefined); // no hosts.json yet: nothing cached
}

/**
 * Prints the cached inventory when `error` says the signaling server could not be reached in
 * time, and returns 1; rethrows any other error.
 */
export async function staleInventory(ctx: CommandContext, home: Home, error: unknown): Promise<number> {
  // A refusal (a revoked device) is an answer: only a server out of reach gives the cache.
  if (!(error instanceof FlotillaError) || !isOutOfReach(error)) throw error;
  const records = await home.hosts.all();
  const refreshedAt = await stat(inventoryPath(home)).then(
    (s) => Math.round(s.mtimeMs),
    () => undefined,
  );
  const when = refreshedAt === undefined ? 'never refreshed' : `last refreshed ${ago(refreshedAt)} (${new Date(refreshedAt).toISOString()})`;
  ctx.err(color(33, `warning: ${error.message} Showing the inventory cached in ${inventoryPath(home)}, ${when}; online status unknown.`));
  const state = (status: string) => (status === 'accepted' ? 'unknown' : status);
  if (ctx.flags.json) {
    ctx.out(
      JSON.stringify(
        records.map((r) => ({ id: r.id, status: state(r.status), lastSeen: r.lastSeen, ...r.facts, stale: true, refreshedAt: refreshedAt ?? null })),
        null,
        1,
      ),
    );
    return 1;
  }
  if (!records.length) {
    ctx.out('No hosts cached.');
    return 1;
  }
  ctx.out(
    table(
      ['ID', 'HOSTNAME', 'STATUS', 'OS', 'ARCH', 'REGION', 'IPS', 'VERSION', 'LAST SEEN', 'TAGS'],
      records.map((r) => [
        r.id.slice(0, 8),
        r.facts?.hostname ?? '?',
        r.status === 'accepted' ? color(90, 'unknown') : statusColor(r.status),
        r.facts?.os ?? '?',
        r.facts?.arch ?? '?',
        r.facts?.region ?? '-',
        (r.facts?.ips ?? []).slice(0, 2).join(',') || '-',
        r.facts?.agentVersion ?? '?',
        ago(r.lastSeen),
        Object.entries(r.facts?.tags ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(' ') || '-',
      ]),
    ),
  );
  return 1;
}
