// Replacing a system file safely (agent side): a temp file in the same directory, written and
// fsynced, given the old file's mode and owner, renamed over it, the directory fsynced. When the
// file is a mount point (Docker bind-mounts /etc/hosts into containers) rename cannot replace it
// (EBUSY); then it is rewritten in place, the only way there is.

import { chmod, chown, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** How the file was replaced. */
export type WriteMode = 'atomic' | 'in-place';

/** Mount points in /proc/self/mountinfo (field 5; spaces and such written as octal escapes). */
export function mountPoints(mountinfo: string): Set<string> {
  const out = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field) out.add(field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))));
  }
  return out;
}

async function isMountPoint(path: string): Promise<boolean> {
  try {
    return mountPoints(await readFile('/proc/self/mountinfo', 'utf8')).has(path);
  } catch {
    return false;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeInPlace(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, 0);
    await handle.truncate(bytes.length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `path`'s contents with `text`, keeping its mode (and owner, when root). */
export async function replaceFile(path: string, text: string): Promise<WriteMode> {
  const bytes = new TextEncoder().encode(text);
  const before = await stat(path);
  if (await isMountPoint(path)) {
    await writeInPlace(path, bytes);
    return 'in-place';
  }
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.flotilla-${randomBytes(6).toString('hex')}`);
  const mode = before.mode & 0o7777;
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // open()'s mode passed through the umask; set it exactly.
    await chmod(temp, mode);
    if (process.getuid?.() === 0) await chown(temp, before.uid, before.gid);
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDir(dir);
  return 'atomic';
}
