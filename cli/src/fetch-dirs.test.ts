import { describe, it, expect, afterEach } from 'vitest';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchFolders } from './fetch-dirs.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function temp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-fetch-dirs-'));
  dirs.push(dir);
  return dir;
}

describe('fetch folders', () => {
  it('keeps the folder of a host whose fetch succeeded and removes that of one that failed', async () => {
    const root = join(await temp(), 'out');
    const folders = fetchFolders(root);
    const ok = await folders.hostFolder('web-1');
    const failed = await folders.hostFolder('web-2');
    await writeFile(join(ok.dir, 'file'), 'x');
    await ok.release(true);
    await failed.release(false);
    await folders.finish();
    expect(await readdir(root)).toEqual(['web-1']);
  });

  it('removes the local folder and the parents it made when every fetch failed', async () => {
    const base = await temp();
    const folders = fetchFolders(join(base, 'a', 'b'));
    await (await folders.hostFolder('web-1')).release(false);
    await folders.finish();
    expect(await readdir(base)).toEqual([]);
  });

  it('never removes folders that existed before', async () => {
    const root = await temp();
    await mkdir(join(root, 'web-1'));
    const folders = fetchFolders(root);
    await (await folders.hostFolder('web-1')).release(false);
    await folders.finish();
    expect(existsSync(join(root, 'web-1'))).toBe(true);
  });
});
