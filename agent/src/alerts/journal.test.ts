import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_LINES, openAlertStore } from './journal.ts';

let dir: string;
beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'flotilla-alert-journal-'))));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('alert state and journal files', () => {
  it('keeps the newest half of the journal once it passes its bound, and the newest 20 events per rule', async () => {
    const store = await openAlertStore(join(dir, 'a'), () => undefined);
    store.entries.set('r', {
      state: { state: 'inactive', since: 0 },
      severity: 'info',
      metric: 'cpu',
      installed: true,
      events: [],
      version: 0,
      published: true,
    });
    for (let i = 0; i < MAX_LINES + 100; i++) store.record('r', { at: i, kind: 'state', from: 'inactive', to: 'pending' });
    await Promise.all([store.save(), store.save()]); // two at once, as a publish and a stop may do
    const lines = (await readFile(join(dir, 'a', 'alerts', 'journal.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(MAX_LINES / 2);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ rule: 'r', at: MAX_LINES + 99 });
    expect(store.entries.get('r')!.events.map((e) => e.at)).toEqual(Array.from({ length: 20 }, (_, i) => MAX_LINES + 80 + i));
    expect(store.entries.get('r')!.published).toBe(false);
    const again = await openAlertStore(join(dir, 'a'), () => undefined);
    expect(again.entries.get('r')!.events).toHaveLength(20);
  });

  it('starts afresh from a damaged state file and says so', async () => {
    await mkdir(join(dir, 'b', 'alerts'), { recursive: true });
    await writeFile(join(dir, 'b', 'alerts', 'state.json'), '{"v":1,"rules":{"x":{"state":{"state":"exploded"}}}}');
    const problems: string[] = [];
    const store = await openAlertStore(join(dir, 'b'), (what) => problems.push(what));
    expect(store.entries.size).toBe(0);
    expect(problems).toEqual(['state.json: rule x set aside']);
  });
});
