// Inventory rows: host records joined with presence, the status words the UI shows, counts,
// and the search and filters of the hosts table.

import type { HostRecord } from '../../../../shared/controller/hosts.ts';
import type { PresenceEntry } from '../../../../shared/controller/signal-api.ts';

/** What the inventory says about a host. */
export type HostState = 'online' | 'offline' | 'pending' | 'rejected';

export interface HostRow {
  id: string;
  record: HostRecord | undefined;
  state: HostState;
  lastSeen: number;
}

/** Records plus presence entries never contacted yet (shown pending until they answer); hosts removed from the fleet are left out. */
export function buildRows(hosts: readonly HostRecord[], presence: ReadonlyMap<string, PresenceEntry>, removed: ReadonlySet<string> = new Set()): HostRow[] {
  const rows: HostRow[] = hosts
    .filter((record) => !removed.has(record.id))
    .map((record) => {
      const p = presence.get(record.id);
      const state: HostState = record.status === 'accepted' ? (p?.online ? 'online' : 'offline') : record.status;
      return { id: record.id, record, state, lastSeen: Math.max(p?.lastSeen ?? 0, record.lastSeen) };
    });
  const known = new Set(hosts.map((h) => h.id));
  for (const p of presence.values()) {
    if (!known.has(p.id) && !removed.has(p.id)) rows.push({ id: p.id, record: undefined, state: 'pending', lastSeen: p.lastSeen });
  }
  const order: Record<HostState, number> = { pending: 0, online: 1, offline: 2, rejected: 3 };
  return rows.sort((a, b) => order[a.state] - order[b.state] || label(a).localeCompare(label(b)));
}

/** Hostname when known, else the short id. */
export function label(row: HostRow): string {
  return row.record?.facts?.hostname ?? row.id.slice(0, 8);
}

export interface HostCounts {
  total: number;
  online: number;
  offline: number;
  pending: number;
}

export function countRows(rows: readonly HostRow[]): HostCounts {
  const counts = { total: 0, online: 0, offline: 0, pending: 0 };
  for (const row of rows) {
    if (row.state === 'rejected') continue;
    counts.total++;
    counts[row.state]++;
  }
  return counts;
}

/** The inventory's filters; empty strings mean "any". */
export interface HostFilter {
  text: string;
  state: HostState | '';
  os: string;
  region: string;
  tag: string;
}

export const NO_FILTER: HostFilter = { text: '', state: '', os: '', region: '', tag: '' };

function tagsOf(row: HostRow): string[] {
  return Object.entries(row.record?.facts?.tags ?? {}).map(([k, v]) => `${k}=${v}`);
}

/** Rows matching every filter; the text matches id, hostname, IPs, OS, region and tags. */
export function filterRows(rows: readonly HostRow[], f: HostFilter): HostRow[] {
  const needle = f.text.trim().toLowerCase();
  return rows.filter((row) => {
    const facts = row.record?.facts;
    if (f.state && row.state !== f.state) return false;
    if (f.os && facts?.os !== f.os) return false;
    if (f.region && (facts?.region ?? '') !== f.region) return false;
    if (f.tag && !tagsOf(row).includes(f.tag)) return false;
    if (!needle) return true;
    const hay = [row.id, facts?.hostname, facts?.os, facts?.release, facts?.region, ...(facts?.ips ?? []), ...tagsOf(row)].join(' ').toLowerCase();
    return hay.includes(needle);
  });
}

/** The distinct values the filter menus offer. */
export function filterChoices(rows: readonly HostRow[]): { os: string[]; region: string[]; tag: string[] } {
  const os = new Set<string>();
  const region = new Set<string>();
  const tag = new Set<string>();
  for (const row of rows) {
    const facts = row.record?.facts;
    if (facts?.os) os.add(facts.os);
    if (facts?.region) region.add(facts.region);
    for (const t of tagsOf(row)) tag.add(t);
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return { os: sorted(os), region: sorted(region), tag: sorted(tag) };
}
