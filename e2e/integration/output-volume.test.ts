// Output under volume, with real processes: a signaling server, one agent and the CLI. Output is
// delivered whole with memory bounded by backpressure (the command waits while the CLI's stdout
// is not read), --json caps what it keeps per host and says so, and answers from the journal
// (a replayed task, a journal request) arrive however large the recorded output is.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, killAll, removeDir, ROOT, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet } from '../../cli/src/fleet.ts';

let base: string;
let admin: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let agent: Proc & { id: string };

async function ok(args: string[], timeoutMs = 60_000) {
  const result = await cli(admin, args, { timeoutMs });
  if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout.slice(0, 2000)}\n${result.stderr}`);
  return result;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  base = await tempDir('volume');
  admin = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  await ok(['init', '--signal', signal.url, '--name', 'test-admin']);
  const token = JSON.parse((await ok(['token', 'create', '--json'])).stdout).token as string;
  agent = await startAgent(join(base, 'agent'), token, ['--allow-root', base]);
  await waitFor('the agent online', async () => {
    const hosts = await cli(admin, ['hosts', '--json']);
    return hosts.code === 0 && (JSON.parse(hosts.stdout) as { status: string }[])[0]?.status === 'online' ? true : undefined;
  });
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

/** Runs a 40 MB command with the CLI's stdout unread until the command stalls, then reads it all. */
async function stallThenRead(label: string): Promise<void> {
  // 40 MB in 100-byte lines; tee records how much the command got to write.
  const progress = join(base, `progress-${label}.out`);
  const cmd = `head -c 40000000 /dev/zero | tr '\\0' x | fold -w 99 | tee ${progress}`;
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'flotilla.js'), 'run', '*', '--', cmd], {
    cwd: ROOT,
    env: { ...process.env, FLOTILLA_HOME: admin, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    child.stdout.pause(); // nobody reads: the pipe fills, then the CLI's stdout buffer
    const size = async () => (await stat(progress).catch(() => ({ size: 0 }))).size;
    // Wait until the command stops making progress (blocked on a full pipe), or finishes.
    let last = -1;
    let still = 0;
    await waitFor(
      'the command to stall or finish',
      async () => {
        const now = await size();
        still = now === last ? still + 1 : 0;
        last = now;
        return still >= 8 || now >= 40_000_000 ? true : undefined;
      },
      120_000,
    );
    // Bounded: the pipes, the agent's pending output, the window in flight and the CLI's
    // stdout buffer hold a few MiB; without backpressure the command ran to the end.
    expect(last).toBeLessThan(16 * 1024 * 1024);
    let bytes = 0;
    let lines = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      for (const b of chunk) if (b === 10) lines++;
    });
    child.stdout.resume();
    const code = await new Promise<number | null>((res) => child.once('close', (c) => res(c)));
    expect(code).toBe(0);
    // fold ends its last line without a newline; the CLI ends it with one. Then the report's
    // table: its header and one row per host (tables are on stdout).
    expect(await size()).toBe(40_000_000 + Math.floor(40_000_000 / 99));
    expect(lines).toBe(Math.ceil(40_000_000 / 99) + 2);
    expect(bytes).toBeGreaterThan(40_000_000);
  } finally {
    child.kill('SIGKILL');
  }
}

describe('output volume', () => {
  it('holds the command back while the CLI’s stdout is not read, then delivers every line', () => stallThenRead('direct'), 240_000);

  it('holds it back through a control process (warm mode) as well', async () => {
    await ok(['connect', '--persist', '2m']);
    try {
      await stallThenRead('warm');
    } finally {
      await cli(admin, ['connect', '--stop']);
    }
  }, 240_000);

  it('prints a 16 MiB line whole, in pieces, and flushes before exiting', async () => {
    const result = await ok(['run', '*', '--', `head -c 16777216 /dev/zero | tr '\\0' y`], 120_000);
    const ys = result.stdout
      .split('\n')
      .filter((l) => l.includes(' | '))
      .map((l) => l.slice(l.indexOf(' | ') + 3));
    expect(ys.join('').length).toBe(16 * 1024 * 1024);
    expect(ys.every((l) => /^y+$/.test(l) && l.length <= 64 * 1024)).toBe(true);
  }, 180_000);

  it('--json keeps 4 MiB per stream, records the truncation and exits 3', async () => {
    const result = await cli(admin, ['run', '*', '--json', '--', `head -c 6000000 /dev/zero | tr '\\0' z; echo fine >&2`], { timeoutMs: 120_000 });
    expect(result.code).toBe(3);
    const parsed = JSON.parse(result.stdout) as { results: { status: string; stdout: string; stderr: string; stdoutBytes: number; truncated: boolean }[] };
    const host = parsed.results[0]!;
    expect(host.status).toBe('ok');
    expect(host.truncated).toBe(true);
    expect(host.stdoutBytes).toBe(6_000_000);
    expect(host.stdout.length).toBe(4 * 1024 * 1024);
    expect(host.stderr).toBe('fine\n');
    expect(result.stderr).toMatch(/--json keeps the first 4 MiB of each stream per host; the output of \S+ was cut/);
  }, 180_000);

  it('a 1 MiB output reaches --json whole and parses', async () => {
    const result = await ok(['run', '*', '--json', '--', 'seq 1 150000']);
    const host = (JSON.parse(result.stdout) as { results: { stdout: string; truncated: boolean }[] }).results[0]!;
    expect(host.truncated).toBe(false);
    expect(host.stdout.split('\n').length).toBe(150_001);
  }, 120_000);
});

describe('answers from the journal', () => {
  const task = `big-${Date.now().toString(36)}`;

  it('replays a task whose recorded output is larger than a message header', async () => {
    const cmd = `head -c 400000 /dev/zero | tr '\\0' q; echo`;
    await ok(['run', '*', '--task', task, '--', cmd]);
    const again = await cli(admin, ['run', '*', '--json', '--task', task, '--', cmd], { timeoutMs: 30_000 });
    expect(again.code).toBe(0);
    const host = (JSON.parse(again.stdout) as { results: { status: string; stdout: string }[] }).results[0]!;
    expect(host.status).toBe('ok');
    // The journal keeps 256 KiB per stream; all of it comes back.
    expect(host.stdout).toBe('q'.repeat(256 * 1024));
  }, 90_000);

  it('answers a journal request holding that entry, within a message', async () => {
    const home = await openHome(admin);
    const fleet = await openFleet(home);
    try {
      const connection = await fleet.controller.connect(agent.id);
      const small = `small-${Date.now().toString(36)}`;
      await ok(['run', '*', '--task', small, '--', 'echo small']);
      const result = await Promise.race([
        connection.request({ type: 'journal', tasks: [task, small] }),
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error('the journal request was not answered')), 20_000)),
      ]);
      expect(result.status).toBe('ok');
      const entries = result.data?.['entries'] as { task: string; stdout: string; truncated: boolean }[];
      const big = entries.find((e) => e.task === task)!;
      expect(big.truncated).toBe(true);
      expect(big.stdout.length).toBeGreaterThan(100_000);
      expect(entries.find((e) => e.task === small)?.stdout).toBe('small\n');
    } finally {
      await fleet.close();
    }
  }, 60_000);
});
