// Recordings on disk: asciicast v2 lines, mode 0600 in a 0700 directory, the per-recording cap
// (truncated, never past it), the oldest removed when the total would pass its cap, the list.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listRecordings, recordingsDir, startRecording } from './recorder.ts';

let state: string;
beforeEach(async () => {
  state = await mkdtemp(join(tmpdir(), 'flotilla-rec-'));
});
afterEach(async () => {
  await rm(state, { recursive: true, force: true });
});

const limits = { maxBytes: 4096, maxTotalBytes: 3 * 4096, maxCount: 100 };
const size = { cols: 80, rows: 24, term: 'xterm-256color', shell: '/bin/sh' };

async function record(session: string, startedAt: number, chunks: (string | Buffer)[], onError = (e: unknown) => expect.fail(String(e))) {
  const { id, observer } = await startRecording(state, limits, { session, startedAt, device: 'd'.repeat(52), user: 'root' }, size, onError);
  for (const c of chunks) observer.output!(typeof c === 'string' ? Buffer.from(c) : c);
  observer.resize!(100, 30);
  observer.ended!({ exitCode: 0, offset: 0 });
  // The meta is rewritten once the stream has ended.
  for (let i = 0; i < 100; i++) {
    const meta = JSON.parse(await readFile(join(recordingsDir(state), `${id}.json`), 'utf8')) as { endedAt?: number };
    if (meta.endedAt) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return id;
}

describe('recordings', () => {
  it('writes asciicast v2 with output and resizes, 0600 in a 0700 directory; a split UTF-8 character stays whole', async () => {
    const e = Buffer.from('é');
    const id = await record('s1', Date.UTC(2026, 11, 3, 12, 0, 0), ['hello\r\n', e.subarray(0, 1), e.subarray(1)]);
    expect(id).toBe('20261203T120000Z-s1');
    const text = await readFile(join(recordingsDir(state), `${id}.cast`), 'utf8');
    const [header, ...events] = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    expect(header).toMatchObject({ version: 2, width: 80, height: 24, env: { TERM: 'xterm-256color' } });
    expect(events[0]).toEqual([expect.any(Number), 'o', 'hello\r\n']);
    expect(events[1]).toEqual([expect.any(Number), 'o', 'é']);
    expect(events.some((ev) => Array.isArray(ev) && ev[1] === 'r' && ev[2] === '100x30')).toBe(true);
    expect((await stat(join(recordingsDir(state), `${id}.cast`))).mode & 0o777).toBe(0o600);
    expect((await stat(join(recordingsDir(state), `${id}.json`))).mode & 0o777).toBe(0o600);
    expect((await stat(recordingsDir(state))).mode & 0o777).toBe(0o700);
  });

  it('stops at the cap and says so', async () => {
    const id = await record(
      's2',
      Date.now(),
      Array.from({ length: 100 }, () => 'x'.repeat(100)),
    );
    const [info] = await listRecordings(state);
    expect(info).toMatchObject({ id, truncated: true });
    expect(info!.size).toBeLessThanOrEqual(limits.maxBytes);
    expect(info!.size).toBeGreaterThan(limits.maxBytes - 200);
  });

  it('removes the oldest when the total would pass its cap, and lists the newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        await record(
          `s${i}`,
          Date.UTC(2026, 0, 1, 0, i),
          Array.from({ length: 40 }, () => 'y'.repeat(100)),
        ),
      );
    const files = await readdir(recordingsDir(state));
    expect(files.filter((f) => f.endsWith('.cast')).length).toBeLessThanOrEqual(3);
    const list = await listRecordings(state);
    expect(list.map((r) => r.id)).toEqual(ids.slice(-list.length).reverse());
    expect(list.map((r) => r.id)).not.toContain(ids[0]);
  });
});
