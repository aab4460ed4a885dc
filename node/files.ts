// Small file helpers: atomic JSON writes with a mode, and tolerant JSON reads.

import { mkdir, readFile, rename, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FlotillaError } from '../shared/wire/errors.ts';

/** Writes JSON atomically (temp file, fsync, rename) with `mode`. */
export async function writeJsonAtomic(path: string, value: unknown, mode = 0o600): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temp, 'w', mode);
  try {
    await handle.writeFile(JSON.stringify(value, null, 1));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/** Reads JSON; undefined when the file does not exist; bad-config when it is corrupt. */
export async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new FlotillaError('bad-config', `${path} is corrupt (not JSON)`);
  }
}

