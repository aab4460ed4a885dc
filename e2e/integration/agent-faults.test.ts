// Faults on the agent's side, with real processes and real files: a push cut by SIGKILL, a fetch
// of a FIFO, a full disk under the state directory (a tmpfs in the agent's own mount namespace),
// a journal entry of the wrong shape, state paths of the wrong type and a deleted identity.
// Every one is answered or reported in one sentence; none hangs.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { cp, mkdir, readdir, rm, writeFile, truncate, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cli, killAll, procOf, removeDir, restartAgent, ROOT, startAgent, startProc, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let token: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let agent: Proc & { id: string };
const stateDir = () => join(base, 'agent');

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
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function online(id: string): Promise<void> {
  await waitFor(`${id.slice(0, 8)} online`, async () => {
    const hosts = await cli(admin, ['hosts', '--json']);
    return hosts.code === 0 && (JSON.parse(hosts.stdout) as { id: string; status: string }[]).some((h) => h.id === id && h.status === 'online')
      ? true
      : undefined;
  });
}

/** Runs the agent once on a state directory and returns how it ended (it must end by itself). */
async function agentExit(dir: string): Promise<{ code: number | null; output: string }> {
  const proc = startProc('flotilla-agent', ['run', '--state-dir', dir]);
  const code = await new Promise<number | null>((res) => proc.child.once('exit', (c) => res(c)));
  return { code, output: proc.output() };
}

beforeAll(async () => {
  base = await tempDir('faults');
  admin = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  await ok(['init', '--signal', signal.url, '--name', 'test-admin']);
  token = JSON.parse((await ok(['token', 'create', '--uses', '3', '--json'])).stdout).token as string;
  agent = await startAgent(stateDir(), token, ['--allow-root', base]);
  await online(agent.id);
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

describe('agent faults', () => {
  it('refuses to fetch a FIFO at once, and keeps answering handshakes', async () => {
    const fifo = join(base, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // Four blocked opens filled libuv's thread pool before; five at once.
    const fetches = await Promise.all([1, 2, 3, 4, 5].map((i) => cli(admin, ['fetch', agent.id, fifo, join(base, `fetched-${i}`)], { timeoutMs: 30_000 })));
    for (const f of fetches) {
      expect(f.code).toBe(1);
      expect(f.stdout + f.stderr).toMatch(/is a FIFO \(named pipe\); fetch reads regular files only/);
    }
    // A new CLI process: a new handshake, which needs the thread pool.
    const alive = await ok(['run', agent.id, '--', 'echo alive'], 30_000);
    expect(alive.stdout).toMatch(/\| alive/);
  }, 90_000);

  it('removes the temp file of a push cut by SIGKILL at the next start, and sets a malformed journal entry aside', async () => {
    const source = join(base, 'big.bin');
    await writeFile(source, '');
    await truncate(source, 400 * 1024 * 1024); // sparse: cheap to read, slow enough to push
    const target = join(base, 'pushed');
    await mkdir(target);
    const push = cli(admin, ['push', agent.id, source, join(target, 'big.bin')], { timeoutMs: 120_000 });
    const temp = await waitFor('the push temp file', async () => (await readdir(target)).find((n) => /\.flotilla-[0-9a-f]{12}\.tmp$/.test(n)), 60_000);
    await agent.stop('SIGKILL');
    await push;
    expect(existsSync(join(target, temp))).toBe(true);

    // A journal entry of the wrong shape: a start time that is not a number, output that is not text.
    await writeFile(
      join(stateDir(), 'journal', 'odd-1.json'),
      JSON.stringify({ task: 'odd-1', op: 'exec', status: 'ok', device: 'x', summary: 'x', startedAt: 'yesterday', stdout: 5, stderr: '', truncated: false }),
    );

    const restarted = restartAgent(stateDir(), ['--allow-root', base]);
    agent = Object.assign(restarted, { id: agent.id });
    await restarted.waitFor(/"event":"partial-removed".*big\.bin/);
    await restarted.waitFor(/"event":"journal-entry-set-aside".*odd-1\.json\.bad.*startedAt is not a time/);
    await online(agent.id);
    expect(await readdir(target)).toEqual([]);
    expect(existsSync(join(stateDir(), 'journal', 'odd-1.json.bad'))).toBe(true);

    // The id answers (interrupted, saying why), and new runs go on.
    const odd = await cli(admin, ['run', agent.id, '--json', '--task', 'odd-1', '--', 'true'], { timeoutMs: 30_000 });
    const host = (JSON.parse(odd.stdout) as { results: { status: string; error: { detail: string } }[] }).results[0]!;
    expect(host.status).toBe('interrupted');
    expect(host.error.detail).toMatch(/journal entry was damaged \(startedAt is not a time\); it was set aside as .*odd-1\.json\.bad/);
    expect((await ok(['run', agent.id, '--', 'echo after'], 30_000)).stdout).toMatch(/\| after/);
  }, 180_000);

  it('answers a task with an error when the state directory’s disk is full', async () => {
    const dir = join(base, 'small-disk');
    await mkdir(dir);
    // A 1 MiB tmpfs in the agent's own mount namespace holds its whole state directory.
    const child = spawn(
      'unshare',
      [
        '-m',
        'sh',
        '-c',
        `mount -t tmpfs -o size=1m,mode=0700 tmpfs '${dir}' && exec '${process.execPath}' '${join(ROOT, 'bin', 'flotilla-agent.js')}' join '${token}' --state-dir '${dir}' --allow-root '${dir}'`,
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const small = procOf(child, 'the small-disk agent');
    try {
      const id = (await small.waitFor(/Enrolled as ([a-z2-7]{52})/))[1]!;
      await online(id);
      await ok(['run', id, '--', 'echo fits'], 30_000);
      // Fill it from inside (the command runs in the agent's namespace).
      await cli(admin, ['run', id, '--', `head -c 4000000 /dev/zero > '${dir}/fill'; true`], { timeoutMs: 30_000 });
      // A fleet document makes the store push to the agent, whose mailbox then cannot save its state: logged, not a crash.
      expect((await cli(admin, ['selector', 'save', 'everything', '*'])).code).toBe(0);
      await small.waitFor(/"event":"store-(mailbox|sync)-failed"/);
      const full = await cli(admin, ['run', id, '--json', '--', 'echo never'], { timeoutMs: 30_000 });
      expect(full.code).toBe(1);
      const host = (JSON.parse(full.stdout) as { results: { status: string; stdout: string; error: { code: string; detail: string } }[] }).results[0]!;
      expect(host.status, small.output().slice(-3000)).toBe('failed');
      expect(host.stdout).toBe('');
      expect(host.error.code).toBe('file-error');
      expect(host.error.detail).toMatch(/cannot write its (audit log|journal) \(.*small-disk.*: no space left on the device\), so it did not run this/);
      await small.waitFor(/"event":"task-not-recorded"/);
    } finally {
      await small.stop('SIGKILL');
    }
  }, 120_000);

  it('stops with one sentence naming the path when a state path has the wrong type', async () => {
    const copy = join(base, 'copy');
    const fresh = async () => {
      await rm(copy, { recursive: true, force: true });
      await cp(stateDir(), copy, { recursive: true });
      await rm(join(copy, 'audit.log'), { force: true });
    };
    await fresh();
    await mkdir(join(copy, 'audit.log'));
    const audit = await agentExit(copy);
    expect(audit.code).toBe(2);
    expect(audit.output).toMatch(
      new RegExp(`^error: .*${join(copy, 'audit.log')} is a directory, where the audit log \\(a file\\) belongs: move it out of the way\\)$`, 'm'),
    );
    expect(audit.output).not.toMatch(/\n\s+at /);

    await fresh();
    await rm(join(copy, 'journal'), { recursive: true });
    await writeFile(join(copy, 'journal'), 'not a directory');
    const journal = await agentExit(copy);
    expect(journal.code).toBe(2);
    expect(journal.output).toMatch(new RegExp(`^error: .*${join(copy, 'journal')} is not a directory, where its journal \\(a directory\\) belongs`, 'm'));
    expect(journal.output).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('refuses to start under a new id when the identity file of an enrolled agent is gone', async () => {
    const copy = join(base, 'no-identity');
    await cp(stateDir(), copy, { recursive: true });
    await rm(join(copy, 'identity.json'));
    const result = await agentExit(copy);
    expect(result.code).toBe(2);
    expect(result.output).toMatch(
      /^error: .*identity\.json is missing, but this agent is enrolled \(.*enrollment\.json\): restore identity\.json from a backup to keep its id, or remove enrollment\.json and join again with a new token/,
    );
    expect(existsSync(join(copy, 'identity.json'))).toBe(false);
    expect((await stat(copy)).isDirectory()).toBe(true);
  }, 60_000);
});
