// Resolving a selector for the Run page: which accepted hosts match, for the live count and the run.

import { FlotillaError } from '../../../../shared/wire/errors.ts';
import { resolveSelector } from '../../../../shared/controller/selector.ts';
import { toSelectable, uniqueLabels, type HostRecord } from '../../../../shared/controller/hosts.ts';
import type { PresenceEntry } from '../../../../shared/controller/signal-api.ts';
import type { Target } from './task-run.svelte.ts';

/** The outcome of resolving: hosts, or the reason there are none. */
export type Resolution = { ok: true; targets: Target[] } | { ok: false; empty: boolean; message: string };

/** Accepted hosts matching `selector`, each with its presence. Never throws. */
export function resolveTargets(selector: string, hosts: readonly HostRecord[], presence: ReadonlyMap<string, PresenceEntry>): Resolution {
  if (!selector.trim()) return { ok: false, empty: true, message: 'Type a selector: *, web-*, tag:role=web, os:linux…' };
  const accepted = hosts.filter((h) => h.status === 'accepted');
  if (accepted.length === 0) return { ok: false, empty: false, message: 'No accepted hosts yet: add one on the Hosts page.' };
  // Hostnames repeat (clones, containers): the short id is added where they do.
  const labels = uniqueLabels(accepted);
  try {
    const matched = resolveSelector(
      selector,
      accepted.map((h) => toSelectable(h, presence.get(h.id)?.online ?? false)),
    );
    return { ok: true, targets: matched.map((m) => ({ id: m.id, label: labels.get(m.id) ?? m.id.slice(0, 8), online: m.online })) };
  } catch (error) {
    if (error instanceof FlotillaError && error.code === 'no-match') return { ok: false, empty: false, message: 'No host matches.' };
    if (error instanceof FlotillaError) return { ok: false, empty: false, message: error.detail ?? error.message };
    return { ok: false, empty: false, message: String(error) };
  }
}

/** A selector naming exactly these hosts (for "re-run on failed"). */
export function selectorForIds(ids: readonly string[]): string {
  return ids.map((id) => `id:${id.slice(0, 16)}`).join(' or ');
}
