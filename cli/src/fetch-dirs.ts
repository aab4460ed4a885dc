// The folders `flotilla fetch` writes into (<local-dir>/<host>/): made as a host's file is about
// to arrive, and removed again when that fetch failed and left them empty, so a failed fetch
// leaves nothing behind. Folders that existed before are never removed.

import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The per-host folders under `root`, created on demand and tidied after failures. */
export function fetchFolders(root: string) {
  /** The first folder this invocation created (root itself, or one of its parents), if any. */
  let rootCreated: string | undefined;
  let rootReady: Promise<void> | undefined;
  const removeIfEmpty = (dir: string) =>
    rmdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST' && error.code !== 'ENOENT') throw error;
    });
  return {
    /** Makes <root>/<name> (and root) if needed; `release` removes what it made if `ok` is false. */
    async hostFolder(name: string): Promise<{ dir: string; release(ok: boolean): Promise<void> }> {
      await (rootReady ??= mkdir(root, { recursive: true }).then((made) => void (rootCreated = made)));
      const dir = join(root, name);
      const made = await mkdir(dir).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'EEXIST') return false;
          throw error;
        },
      );
      return { dir, release: async (ok) => void (!ok && made && (await removeIfEmpty(dir))) };
    },
    /** Removes root (and the parents made with it) when no fetch left anything there. */
    async finish(): Promise<void> {
      if (!rootCreated) return;
      for (let dir = root; dir.length >= rootCreated.length; dir = join(dir, '..')) {
        await removeIfEmpty(dir);
        if (dir === rootCreated) break;
      }
    },
  };
}
