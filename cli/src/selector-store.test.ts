import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { selectorStore } from './selector-store.ts';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function store() {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-selectors-'));
  const path = join(dir, 'selectors.json');
  return { path, store: selectorStore(path) };
}

async function detail(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FlotillaError) return error.detail;
    throw error;
  }
  throw new Error('expected a FlotillaError');
}

describe('selectorStore', () => {
  it('saves with mode 0600, replaces by name and lists in order', async () => {
    const { path, store: s } = await store();
    expect(await s.all()).toEqual([]);
    await s.save('web', 'tag:role=web');
    await s.save('@db', ' tag:role=db ');
    await s.save('web', 'web-*');
    expect((await s.all()).map((x) => [x.name, x.selector])).toEqual([
      ['db', 'tag:role=db'],
      ['web', 'web-*'],
    ]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect([...(await s.lookup())]).toEqual([
      ['db', 'tag:role=db'],
      ['web', 'web-*'],
    ]);
    await s.remove('@web');
    expect(JSON.parse(await readFile(path, 'utf8'))).toHaveLength(1);
  });

  it('refuses a bad name or an unknown one to remove', async () => {
    const { store: s } = await store();
    expect(await detail(s.save('no spaces', 'web-1'))).toBe(
      '"no spaces" cannot name a selector: use up to 64 letters, digits, "-", "_" or ".", such as web-prod',
    );
    expect(await detail(s.remove('nope'))).toBe('no saved selector is named @nope; see flotilla selector list');
  });

  it('explains a damaged file in one sentence with its path', async () => {
    const { path, store: s } = await store();
    const cases: Array<[string, string]> = [
      ['{ nope', `${path} is damaged: not JSON; fix or delete it`],
      ['{"web":"x"}', `${path} is damaged: expected a list of saved selectors; fix or delete it (flotilla selector save writes it again)`],
      ['[{"name":"a b","selector":"x"}]', `${path} is damaged: entry 1 has no valid name; fix or delete it (flotilla selector save writes it again)`],
      ['[{"name":"a","selector":7}]', `${path} is damaged: @a has no selector text; fix or delete it (flotilla selector save writes it again)`],
      [
        '[{"name":"a","selector":"x"},{"name":"a","selector":"y"}]',
        `${path} is damaged: @a is saved twice; fix or delete it (flotilla selector save writes it again)`,
      ],
      ['[null]', `${path} is damaged: entry 1 has no valid name; fix or delete it (flotilla selector save writes it again)`],
    ];
    for (const [text, expected] of cases) {
      await writeFile(path, text);
      expect(await detail(s.all()), text).toBe(expected);
    }
    await rm(path);
    await mkdir(path);
    expect(await detail(s.lookup())).toBe(`${path} is a directory, where the saved selectors file (a file) belongs: move it out of the way`);
  });
});
