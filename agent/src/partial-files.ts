// Temporary files of transfers in progress (a push writes `.<name>.flotilla-<hex>.tmp` beside
// its target, then renames it into place). Each is recorded in <state>/partial/ before it is
// created and forgotten once renamed or removed; a record still there at start is a transfer
// cut short (the agent was killed, the machine lost power), and its file is removed then.

import { mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** The only names removed at start, whatever a record says: push temp files. */
export const PARTIAL_NAME = /^\..+\.flotilla-[0-9a-f]{12}\.tmp$/;

const dirOf = (stateDir: string) => join(stateDir, 'partial');

/** Records `path` as a transfer's temporary file; the returned function forgets it. */
export async function trackPartial(stateDir: string, path: string): Promise<() => Promise<void>> {
  const dir = dirOf(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const record = join(dir, `${randomBytes(8).toString('hex')}.path`);
  await writeFile(record, path, { mode: 0o600 });
  return () => rm(record, { force: true });
}

/** Removes the temporary files of transfers cut short; returns the paths removed. */
export async function removePartials(stateDir: string, log: (event: string, fields: Record<string, unknown>) => void): Promise<string[]> {
  const dir = dirOf(stateDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const record = join(dir, name);
    const path = await readFile(record, 'utf8').catch(() => '');
    if (PARTIAL_NAME.test(basename(path))) {
      try {
        await unlink(path);
        removed.push(path);
        log('partial-removed', { path });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') log('partial-remove-failed', { path, error: code ?? String(error) });
      }
    }
    await rm(record, { force: true });
  }
  return removed;
}
