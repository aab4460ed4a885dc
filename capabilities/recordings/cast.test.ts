import { describe, expect, it } from 'vitest';
import { parseCast, playCast } from './cast.ts';

const cast = [
  JSON.stringify({ version: 2, width: 100, height: 30, timestamp: 1 }),
  JSON.stringify([0.1, 'o', '$ echo hi\r\n']),
  JSON.stringify([0.3, 'i', 'secret']),
  JSON.stringify([0.5, 'r', '120x40']),
  JSON.stringify([30.5, 'o', 'hi\r\n']),
  '[31.0, "o", "cut mid-li',
].join('\n');

describe('asciicast v2', () => {
  it('reads the header size, output and resizes; skips input and a cut last line', () => {
    const c = parseCast(cast);
    expect(c).toMatchObject({ width: 100, height: 30, skipped: 1 });
    expect(c.events.map((e) => [e.kind, e.data])).toEqual([
      ['o', '$ echo hi\r\n'],
      ['r', '120x40'],
      ['o', 'hi\r\n'],
    ]);
  });

  it('refuses what is not asciicast v2', () => {
    expect(() => parseCast('hello')).toThrow(/not an asciicast header/);
    expect(() => parseCast(JSON.stringify({ version: 1 }))).toThrow(/not asciicast version 2/);
  });

  it('plays at its pace divided by the speed, long pauses cut to a second', async () => {
    const waits: number[] = [];
    const out: string[] = [];
    const sizes: string[] = [];
    await playCast(parseCast(cast).events, {
      speed: 2,
      write: (t) => void out.push(t),
      resize: (s) => void sizes.push(`${s.cols}x${s.rows}`),
      sleep: async (ms) => void waits.push(Math.round(ms)),
    });
    expect(out.join('')).toBe('$ echo hi\r\nhi\r\n');
    expect(sizes).toEqual(['120x40']);
    // 0.1 s, 0.4 s and 30 s (cut to 1 s), each halved.
    expect(waits).toEqual([50, 200, 500]);
  });

  it('stops when aborted', async () => {
    const abort = new AbortController();
    const out: string[] = [];
    await playCast(parseCast(cast).events, {
      speed: 1,
      signal: abort.signal,
      write: (t) => {
        out.push(t);
        abort.abort();
      },
      sleep: async () => undefined,
    });
    expect(out).toHaveLength(1);
  });
});
