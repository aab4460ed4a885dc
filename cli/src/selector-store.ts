// Saved selectors (`@name`, Salt's nodegroups) in the CLI home's selectors.json, until fleet
// documents carry them. Read afresh on every use: the file is small, and a control process must
// see a selector saved by another invocation.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { SAVED_NAME } from '../../shared/controller/selector-terms.ts';
import { expandSaved, parseSelector, savedNames } from '../../shared/controller/selector.ts';
import { readJson, writeJsonAtomic } from '../../node/files.ts';

/** One saved selector. */
export interface SavedSelector {
  name: string;
  selector: string;
  savedAt: number;
}

/** The saved selectors of one home. */
export interface SelectorStore {
  path: string;
  all(): Promise<SavedSelector[]>;
  /** name → selector text, for resolveSelector's lookup. */
  lookup(): Promise<Map<string, string>>;
  /** Checks `selector` (it parses; every @name in it exists; no loop) and saves it under `name`. */
  save(name: string, selector: string): Promise<SavedSelector>;
  /** Removes `name`; refuses while another saved selector uses it, unless `force`. */
  remove(name: string, force?: boolean): Promise<void>;
}

const MAX_SAVED = 1000;

function corrupt(path: string, why: string): never {
  throw new FlotillaError('bad-config', `${path} is damaged: ${why}; fix or delete it (flotilla selector save writes it again)`);
}

// Validated on load: a damaged file is one sentence with its path, never a stack trace.
async function load(path: string): Promise<SavedSelector[]> {
  let raw: unknown;
  try {
    raw = await readJson(path, 'the saved selectors file');
  } catch (error) {
    // readJson names the path and what is wrong with it (a directory, no access); only "not JSON" gets our advice.
    if (error instanceof FlotillaError && (error as { notJson?: boolean }).notJson)
      throw new FlotillaError('bad-config', `${path} is damaged: not JSON; fix or delete it`);
    throw error;
  }
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) corrupt(path, 'expected a list of saved selectors');
  if (raw.length > MAX_SAVED) corrupt(path, `more than ${MAX_SAVED} entries`);
  const seen = new Set<string>();
  return raw.map((entry: unknown, i) => {
    const o = (entry ?? {}) as Record<string, unknown>;
    const { name, selector, savedAt } = o;
    if (typeof name !== 'string' || !SAVED_NAME.test(name)) corrupt(path, `entry ${i + 1} has no valid name`);
    if (typeof selector !== 'string' || selector.length === 0 || selector.length > 4096) corrupt(path, `@${name} has no selector text`);
    if (seen.has(name)) corrupt(path, `@${name} is saved twice`);
    seen.add(name);
    return { name, selector, savedAt: typeof savedAt === 'number' && Number.isFinite(savedAt) ? savedAt : 0 };
  });
}

// The saved selectors that name `name` directly.
function usersOf(all: readonly SavedSelector[], name: string): string[] {
  return all
    .filter((s) => {
      try {
        return savedNames(parseSelector(s.selector)).includes(name);
      } catch {
        return false; // a saved selector that no longer parses uses nothing
      }
    })
    .map((s) => s.name);
}

/** The store for `path` (the home's selectors.json). */
export function selectorStore(path: string): SelectorStore {
  let writing: Promise<unknown> = Promise.resolve();
  const write = (list: SavedSelector[]) => (writing = writing.then(() => writeJsonAtomic(path, list, 0o600)));
  return {
    path,
    all: () => load(path),
    lookup: async () => new Map((await load(path)).map((s) => [s.name, s.selector])),
    async save(name, selector) {
      const bare = name.startsWith('@') ? name.slice(1) : name;
      if (!SAVED_NAME.test(bare)) {
        throw new FlotillaError('bad-config', `"${name}" cannot name a selector: use up to 64 letters, digits, "-", "_" or ".", such as web-prod`);
      }
      const list = await load(path);
      const next = list.filter((s) => s.name !== bare);
      const entry = { name: bare, selector: selector.trim(), savedAt: Date.now() };
      next.push(entry);
      // The same checks a run would make, now rather than at the first run.
      expandSaved({ kind: 'named', name: bare }, new Map(next.map((s) => [s.name, s.selector])));
      if (next.length > MAX_SAVED) throw new FlotillaError('bad-config', `a home keeps at most ${MAX_SAVED} saved selectors`);
      await write(next);
      return entry;
    },
    async remove(name, force = false) {
      const bare = name.startsWith('@') ? name.slice(1) : name;
      const list = await load(path);
      if (!list.some((s) => s.name === bare)) {
        throw new FlotillaError('bad-config', `no saved selector is named @${bare}; see flotilla selector list`);
      }
      const users = usersOf(list, bare).filter((n) => n !== bare);
      if (users.length > 0 && !force) {
        const names = users.map((n) => `@${n}`).join(', ');
        throw new FlotillaError('bad-config', `@${bare} is used by ${names}; remove or change ${users.length === 1 ? 'it' : 'them'} first, or add --force`);
      }
      await write(list.filter((s) => s.name !== bare));
    },
  };
}
