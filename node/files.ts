// Small file helpers: atomic JSON writes with a mode, and tolerant JSON reads.

import { mkdir, readFile, rename, open, stat } from 'node:fs/promises';
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

/**
 * A file-system error on a state file or directory as one sentence with the path and what to
 * do: `what` names what the path holds ("its journal"), `kind` what it must be.
 */
export function pathError(path: string, error: unknown, what: string, kind: 'file' | 'directory'): FlotillaError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EISDIR' || (kind === 'directory' && (code === 'EEXIST' || code === 'ENOTDIR'))) {
    const found = kind === 'file' ? 'a directory' : 'not a directory';
    return new FlotillaError('bad-config', `${path} is ${found}, where ${what} (a ${kind}) belongs: move it out of the way`);
  }
  if (code === 'EACCES' || code === 'EPERM')
    return new FlotillaError('bad-config', `${path} (${what}) is not accessible to this user (${code}): fix its owner or mode`);
  return new FlotillaError('bad-config', `cannot use ${path} (${what}): ${code ?? (error as Error).message}`);
}

/** Makes sure `path` is a directory (creating it, mode 0700), or says in a sentence why it cannot be. */
export async function expectDirectory(path: string, what: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true, mode: 0o700 });
    if (!(await stat(path)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (error) {
    throw pathError(path, error, what, 'directory');
  }
}

/** Reads JSON; undefined when the file does not exist; bad-config (one sentence) when it is corrupt or not a readable file. */
export async function readJson(path: string, what = 'a Flotilla state file'): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw pathError(path, error, what, 'file');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw Object.assign(new FlotillaError('bad-config', `${path} is corrupt (not JSON)`), { notJson: true });
  }
}
