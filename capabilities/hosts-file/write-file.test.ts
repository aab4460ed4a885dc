import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountPoints, replaceFile } from './write-file.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-hosts-write-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('replaceFile', () => {
  it('replaces the file by rename (a new inode), keeps its mode, leaves no temp file', async () => {
    const path = join(dir, 'hosts');
    await writeFile(path, 'old\n');
    await chmod(path, 0o640);
    const inode = (await stat(path)).ino;
    expect(await replaceFile(path, 'new\n')).toBe('atomic');
    expect(await readFile(path, 'utf8')).toBe('new\n');
    const after = await stat(path);
    expect(after.mode & 0o7777).toBe(0o640);
    expect(after.ino).not.toBe(inode);
    expect(await readdir(dir)).toEqual(['hosts']);
  });

  it('fails on a missing file without creating it or leaving a temp file', async () => {
    await expect(replaceFile(join(dir, 'missing'), 'x')).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('mountPoints', () => {
  it('reads field 5 of mountinfo with octal escapes', () => {
    const info =
      '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n512 22 8:1 /tmp/x/hosts /etc/hosts rw - ext4 /dev/vda rw\n600 22 0:5 / /mnt/with\\040space rw - tmpfs t rw\n';
    expect([...mountPoints(info)]).toEqual(['/', '/etc/hosts', '/mnt/with space']);
  });
});
