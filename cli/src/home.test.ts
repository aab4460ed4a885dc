import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonStore } from './home.ts';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('jsonStore', () => {
  it('loses no record when first reads and writes race (hosts joining at once)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-home-'));
    const path = join(dir, 'tokens.json');
    await writeFile(path, JSON.stringify([{ tid: 't', usedBy: [] as string[] }]));
    const store = jsonStore<{ tid: string; usedBy: string[] }, 'tid'>(path, 'tid');
    // Two connections look the token up at the same moment; the first claims a use before the
    // second lookup has finished reading, then the second claims one.
    const first = store.get('t');
    const second = store.get('t');
    await store.put({ ...(await first)!, usedBy: ['alpha'] });
    await second;
    const fresh = (await store.get('t'))!;
    await store.put({ ...fresh, usedBy: [...fresh.usedBy, 'bravo'] });
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual([{ tid: 't', usedBy: ['alpha', 'bravo'] }]);
  });

  it('reads the file again after a failed read', async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-home-'));
    const path = join(dir, 'hosts.json');
    await writeFile(path, '{ not json');
    const store = jsonStore<{ id: string }, 'id'>(path, 'id');
    await expect(store.all()).rejects.toThrow();
    await writeFile(path, JSON.stringify([{ id: 'h1' }]));
    expect(await store.all()).toEqual([{ id: 'h1' }]);
  });
});
