// The tail reader on real files (small blocks so that lines cross block edges; a sparse 10 GB
// file to show it reads only the end), the byte budget, and the follower: appends, truncation,
// rotation, dropping what the budget cannot carry, and special files refused.

import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { appendFile, mkdtemp, open, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRateLimiter, readTail } from './tail.ts';
import { followFile, openRegular } from './follow.ts';
import { parseSource, spec } from './spec.ts';
import { parseLogsArgs } from './cli.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-tail-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function tailOf(content: string, n: number, maxBytes = 1 << 20, blockSize = 7) {
  const path = join(dir, `t-${Math.random().toString(36).slice(2)}`);
  await writeFile(path, content);
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const tail = await readTail(handle, size, n, maxBytes, blockSize);
    return { ...tail, text: text(tail.bytes) };
  } finally {
    await handle.close();
  }
}

const numbered = (count: number) => Array.from({ length: count }, (_, i) => `line ${i + 1}\n`).join('');

describe('readTail', () => {
  it('returns the last n lines, across block edges, with or without a final newline', async () => {
    expect((await tailOf(numbered(50), 3)).text).toBe('line 48\nline 49\nline 50\n');
    expect((await tailOf(numbered(50).slice(0, -1), 3)).text).toBe('line 48\nline 49\nline 50');
    const one = await tailOf(numbered(50), 1);
    expect(one.text).toBe('line 50\n');
    expect(one.lines).toBe(1);
    for (const block of [1, 2, 8, 64, 4096])
      expect((await tailOf(numbered(20), 5, 1 << 20, block)).text, `block ${block}`).toBe(numbered(20).split('\n').slice(15).join('\n'));
  });

  it('returns the whole file when it has fewer lines, and nothing for an empty one', async () => {
    const all = await tailOf(numbered(4), 10);
    expect(all.text).toBe(numbered(4));
    expect(all.lines).toBe(4);
    expect(all.start).toBe(0);
    expect((await tailOf('', 10)).text).toBe('');
    expect((await tailOf('\n\n\n', 2)).text).toBe('\n\n');
    expect((await tailOf('no newline at all', 5)).text).toBe('no newline at all');
  });

  it('keeps to maxBytes with whole lines, and says it cut', async () => {
    const cut = await tailOf(numbered(1000), 1000, 40);
    expect(cut.cut).toBe(true);
    expect(cut.bytes.length).toBeLessThanOrEqual(40);
    expect(cut.text).toMatch(/^line \d+\n/);
    expect(cut.text.endsWith('line 1000\n')).toBe(true);
    expect((await tailOf(numbered(1000), 3, 40)).cut).toBe(false);
    // One line longer than the budget: its last maxBytes bytes.
    const long = await tailOf('x'.repeat(100) + '\n', 1, 10);
    expect(long.cut).toBe(true);
    expect(long.text).toBe('xxxxxxxxx\n');
  });

  it('reads a few blocks of a 10 GB file, not the file', async () => {
    const path = join(dir, 'huge.log');
    await writeFile(path, '');
    await truncate(path, 10 * 1024 ** 3); // sparse: no disk used
    await appendFile(path, numbered(10));
    const handle = await open(path, 'r');
    try {
      const size = (await handle.stat()).size;
      const tail = await readTail(handle, size, 5, 4 << 20);
      expect(text(tail.bytes)).toBe(numbered(10).split('\n').slice(5).join('\n'));
      expect(tail.bytesRead).toBeLessThanOrEqual(64 * 1024);
      // Asking for more lines than there are stops at maxBytes, still far from 10 GB.
      const many = await readTail(handle, size, 10_000, 1 << 20);
      expect(many.cut).toBe(true);
      expect(many.bytesRead).toBeLessThanOrEqual((1 << 20) + 64 * 1024);
    } finally {
      await handle.close();
    }
  });
});

describe('createRateLimiter', () => {
  it("grants a second's worth at once, then what time earns", () => {
    let now = 0;
    const limiter = createRateLimiter(1000, () => now);
    expect(limiter.take(600)).toBe(600);
    expect(limiter.take(600)).toBe(400);
    expect(limiter.take(10)).toBe(0);
    now = 250;
    expect(limiter.take(1000)).toBe(250);
    now = 10_000;
    expect(limiter.take(5000)).toBe(1000); // no credit beyond one second
  });
});

/** Follows `path` while `act` changes it; collects what was handed on and the notices. */
async function follow(path: string, act: (until: (pattern: RegExp) => Promise<void>) => Promise<void>, bytesPerSecond = 1 << 20) {
  const abort = new AbortController();
  let out = '';
  const notices: string[] = [];
  const waiters = new Set<() => void>();
  const changed = () => waiters.forEach((w) => w());
  const until = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; got ${JSON.stringify(out)} ${JSON.stringify(notices)}`)), 10_000);
      const check = () => {
        if (!pattern.test(out + notices.join('\n'))) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  const handle = await openRegular(path);
  const size = (await handle.stat()).size;
  const running = followFile({
    path,
    handle,
    from: size,
    signal: abort.signal,
    emit: async (bytes) => {
      out += text(bytes);
      changed();
    },
    notice: async (line) => {
      notices.push(line);
      changed();
    },
    reopen: () => openRegular(path).catch(() => undefined),
    bytesPerSecond,
    pollMs: 20,
  });
  try {
    await act(until);
  } finally {
    abort.abort();
  }
  const stats = await running;
  return { out, notices, stats };
}

describe('followFile', () => {
  it('hands on appended lines, starts over after a truncation, and follows the new file after a rotation', async () => {
    const path = join(dir, 'app.log');
    await writeFile(path, 'old 1\nold 2\n');
    const { out, notices, stats } = await follow(path, async (until) => {
      await appendFile(path, 'new 1\n');
      await until(/new 1\n/);
      await appendFile(path, 'new 2\n');
      await until(/new 2\n/);
      await truncate(path, 0);
      await until(/truncated/);
      await appendFile(path, 'after truncate\n');
      await until(/after truncate\n/);
      await rename(path, `${path}.1`);
      await appendFile(`${path}.1`, 'late in the old file\n');
      await writeFile(path, 'first of the new file\n');
      await until(/first of the new file\n/);
      await appendFile(path, 'second of the new file\n');
      await until(/second of the new file\n/);
    });
    expect(out).not.toMatch(/old 1/);
    expect(out).toBe('new 1\nnew 2\nafter truncate\nlate in the old file\nfirst of the new file\nsecond of the new file\n');
    expect(notices).toEqual(['the file was truncated; following it from its start', 'the file was rotated; following the new file']);
    expect(stats).toMatchObject({ truncations: 1, rotations: 1, dropped: 0 });
  });

  it('drops what comes faster than the budget, keeping the newest whole lines, and counts it', async () => {
    const path = join(dir, 'fast.log');
    await writeFile(path, '');
    const burst = numbered(2000); // ~20 KB at once, with a budget of 4 KB/s
    const { out, notices, stats } = await follow(
      path,
      async (until) => {
        await appendFile(path, burst);
        await until(/line 2000\n/);
      },
      4096,
    );
    expect(stats.dropped).toBeGreaterThan(0);
    expect(stats.dropped + stats.bytes).toBe(Buffer.byteLength(burst));
    expect(out.endsWith('line 2000\n')).toBe(true);
    expect(out).toMatch(/^line \d+\n/); // starts at a whole line
    expect(notices[0]).toBe(`${stats.dropped} bytes dropped: the file grew faster than 4 KiB/s`);
  });

  it('refuses special files before reading them', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    await expect(openRegular(fifo)).rejects.toThrow(/not a regular file/);
    await expect(openRegular('/dev/zero')).rejects.toThrow(/not a regular file/);
    await expect(openRegular(dir)).rejects.toThrow(/not a regular file/);
    await expect(openRegular(join(dir, 'missing'))).rejects.toThrow(/no file .*missing on this host/);
  });
});

describe('the logs request', () => {
  it('takes an absolute path or unit:NAME, and refuses anything else with a sentence', () => {
    expect(parseSource('/var/log/syslog')).toEqual({ kind: 'file', path: '/var/log/syslog' });
    expect(parseSource('unit:nginx.service')).toEqual({ kind: 'unit', unit: 'nginx.service' });
    expect(() => parseSource('var/log/syslog')).toThrow(/neither an absolute path on the host nor unit:NAME/);
    expect(() => parseSource('unit:-f')).toThrow(/starts with '-'/);
    expect(() => spec.request.parse({ source: '/x', lines: 0 })).toThrow(/lines/);
    expect(() => spec.request.parse({ source: '/x', lines: 10_001 })).toThrow(/lines/);
    expect(spec.request.parse({ source: '/x', lines: 5, follow: true })).toEqual({ source: '/x', lines: 5, follow: true });
  });

  it('is checked by the CLI before it dials', () => {
    expect(parseLogsArgs(['web', '/var/log/x'], {})).toEqual({ selector: 'web', body: { source: '/var/log/x', lines: 100 } });
    expect(parseLogsArgs(['web', 'unit:ssh'], { lines: '5', follow: true })).toEqual({ selector: 'web', body: { source: 'unit:ssh', lines: 5, follow: true } });
    expect(() => parseLogsArgs(['web', 'x.log'], {})).toThrow(/neither an absolute path/);
    expect(() => parseLogsArgs(['web', '/x'], { lines: 'ten' })).toThrow(/-n takes a number/);
    expect(() => parseLogsArgs(['web'], {})).toThrow(/needs a selector and one file or unit:NAME/);
  });

  it('rejects malformed results from a peer', () => {
    const good = { source: '/x', lines: 3, bytes: 10, cut: false, follow: false, droppedBytes: 0, truncations: 0, rotations: 0 };
    expect(spec.result(good)).toEqual(good);
    expect(() => spec.result({ ...good, lines: -1 })).toThrow(/lines/);
    expect(() => spec.result({ ...good, follow: 'yes' })).toThrow(/follow/);
  });
});
