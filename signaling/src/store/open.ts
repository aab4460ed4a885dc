// Picks and opens the store backend named by --store.

import { FlotillaError } from '../../../shared/wire/errors.ts';
import { createMemoryStore } from './memory.ts';
import type { RecordStore } from './types.ts';

/** Backends `--store` accepts (`redis` can follow when the server scales out). */
export const STORE_BACKENDS = ['memory', 'sqlite'] as const;
export type StoreBackend = (typeof STORE_BACKENDS)[number];

/** Opens `backend`, by default SQLite in `dataDir` when there is one, else memory. */
export async function openStore(backend: StoreBackend | undefined, dataDir: string | undefined): Promise<RecordStore> {
  const kind = backend ?? (dataDir === undefined ? 'memory' : 'sqlite');
  if (kind === 'memory') return createMemoryStore();
  if (dataDir === undefined) throw new FlotillaError('bad-config', '--store sqlite needs --data-dir (the store is <data-dir>/store.sqlite)');
  // Loaded only here, so a memory server never loads the native module.
  const { openSqliteStore } = await import('./sqlite.ts');
  return openSqliteStore(dataDir);
}
