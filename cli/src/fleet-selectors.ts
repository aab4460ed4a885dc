// Saved selectors from the fleet's selector documents (made on any device) beside the home's
// selectors.json, for `@name` lookups and `flotilla selector list`. Reads the fleet state cache
// only (no keys, no network): light enough for every invocation that resolves a selector.

import { join } from 'node:path';
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { SelectorDoc } from '../../shared/store/documents.ts';
import type { SyncSnapshot } from '../../shared/store/fleet-sync.ts';
import { readJson } from '../../node/files.ts';
import type { SavedSelector, SelectorStore } from './selector-store.ts';

/** The home's fleet state cache (fleet-state.ts). */
export const stateFile = (dir: string) => join(dir, 'fleet-state.json');

/** The selector documents in a home's cache, newest per name (read without keys: the cache holds opened documents). */
export async function cachedSelectorDocs(dir: string): Promise<SelectorDoc[]> {
  const raw = (await readJson(stateFile(dir), 'the fleet state cache').catch(() => undefined)) as Partial<SyncSnapshot> | undefined;
  const byName = new Map<string, SelectorDoc>();
  for (const doc of Object.values(raw?.docs ?? {})) {
    const p = doc?.payload as Partial<SelectorDoc> | undefined;
    if (p?.type !== 'selector' || typeof p.name !== 'string' || typeof p.expr !== 'string' || typeof p.at !== 'number') continue;
    const seen = byName.get(p.name);
    if (!seen || seen.at < p.at) byName.set(p.name, { type: 'selector', name: p.name, expr: p.expr, deleted: p.deleted === true, at: p.at });
  }
  return [...byName.values()];
}

/**
 * Saved selectors as a run resolves them: the newer of this home's selectors.json entry and the
 * fleet's selector document for each name; a document deleting a name newer than the local
 * entry removes it.
 */
export function mergeSelectors(local: readonly SavedSelector[], docs: readonly SelectorDoc[]): SavedSelector[] {
  const out = new Map<string, SavedSelector>();
  for (const s of local) out.set(s.name, s);
  for (const d of docs) {
    const mine = out.get(d.name);
    if (mine && mine.savedAt >= d.at) continue;
    if (d.deleted) out.delete(d.name);
    else out.set(d.name, { name: d.name, selector: d.expr, savedAt: d.at });
  }
  return [...out.values()];
}

/** The home's selector store with the fleet's selector documents merged into what it lists and looks up. */
export function withFleetSelectors(store: SelectorStore, dir: string): SelectorStore {
  const all = async () => mergeSelectors(await store.all(), await cachedSelectorDocs(dir));
  return {
    ...store,
    all,
    lookup: async () => new Map((await all()).map((s) => [s.name, s.selector])),
    async remove(name, force) {
      const bare = name.replace(/^@/, '');
      if ((await store.all()).some((s) => s.name === bare)) return store.remove(name, force);
      // Saved on another device only: the caller's selector document removes it.
      if (!(await all()).some((s) => s.name === bare)) throw new FlotillaError('bad-config', `no saved selector is named @${bare}; see flotilla selector list`);
    },
  };
}
