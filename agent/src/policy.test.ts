import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCommand, confinePath } from './policy.ts';

let base: string;
let root: string;
let outside: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'flotilla-policy-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  await mkdir(join(root, 'sub'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'no');
  await writeFile(join(root, 'ok.txt'), 'yes');
  await symlink(outside, join(root, 'escape'));
  await symlink(join(outside, 'secret'), join(root, 'secret-link'));
});
afterAll(() => rm(base, { recursive: true, force: true }));

describe('confinePath', () => {
  it('allows paths inside the root, existing or new', async () => {
    await expect(confinePath(join(root, 'ok.txt'), [root], 'read')).resolves.toMatch(/ok\.txt$/);
    await expect(confinePath(join(root, 'new/dir/file'), [root], 'write')).resolves.toMatch(/new\/dir\/file$/);
  });

  it('refuses .. escapes, absolute paths outside, relative paths', async () => {
    await expect(confinePath(join(root, '../outside/secret'), [root], 'read')).rejects.toMatchObject({ code: 'path-refused' });
    await expect(confinePath('/etc/passwd', [root], 'read')).rejects.toMatchObject({ code: 'path-refused' });
    await expect(confinePath('ok.txt', [root], 'read')).rejects.toMatchObject({ code: 'path-refused' });
  });

  it('refuses symlinks that lead out of the root, for reads and writes', async () => {
    await expect(confinePath(join(root, 'escape/secret'), [root], 'read')).rejects.toMatchObject({ code: 'path-refused' });
    await expect(confinePath(join(root, 'secret-link'), [root], 'read')).rejects.toMatchObject({ code: 'path-refused' });
    await expect(confinePath(join(root, 'escape/new-file'), [root], 'write')).rejects.toMatchObject({ code: 'path-refused' });
  });
});

describe('checkCommand', () => {
  it('refuses matching commands and allows others', () => {
    expect(() => checkCommand('rm -rf /', ['^rm\\s+-rf\\s+/$'])).toThrow(/refused pattern/);
    expect(() => checkCommand('uptime', ['^rm'])).not.toThrow();
  });
});
