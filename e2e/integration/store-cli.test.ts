// One fleet state for two CLI homes of one fleet through the signaling server's sealed store
// (issue 13, CLI part): host decisions, join tokens and selectors made in one home show in the
// other; run --queue leaves the task for a stopped agent (status queued), queue list/cancel and
// history read it from the other home; flotilla remove takes a host out of both. Real signaling
// server (--store sqlite in its data dir), real agents, the real CLI.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, killAll, removeDir, restartAgent, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let laptop: string;
let second: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let web: Proc & { id: string };
let db: Proc & { id: string };
let dbRestarted: Proc | undefined;
let pending: (Proc & { id: string }) | undefined;

const json = <T>(text: string): T => JSON.parse(text) as T;
type HostRow = { id: string; status: string };

beforeAll(async () => {
  base = await tempDir('store-cli');
  laptop = join(base, 'laptop');
  second = join(base, 'second');
  signal = await startSignal(join(base, 'signal'));
  expect((await cli(laptop, ['init', '--signal', signal.url, '--name', 'laptop'])).code).toBe(0);
  expect((await cli(laptop, ['device', 'add', 'second', '--home', second, '--role', 'admin'])).code).toBe(0);
  const created = await cli(laptop, ['token', 'create', '--uses', '2', '--json']);
  expect(created.code).toBe(0);
  const token = json<{ token: string }>(created.stdout).token;
  web = await startAgent(join(base, 'web'), token, ['--tag', 'role=web']);
  db = await startAgent(join(base, 'db'), token, ['--tag', 'role=db']);
  expect((await cli(laptop, ['hosts', '--json'])).code).toBe(0);
  // The second device announces itself; the laptop (the admin that made the keyrings) adds it.
  expect((await cli(second, ['hosts', '--json'])).code).toBe(0);
  expect((await cli(laptop, ['hosts', '--json'])).code).toBe(0);
}, 120_000);

afterAll(async () => {
  await Promise.all([web?.stop(), db?.stop(), dbRestarted?.stop(), pending?.stop()]);
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

describe('one fleet state on two CLI homes', () => {
  it('lists a token made in one home in the other, and a selector saved in one resolves in the other', async () => {
    const made = await cli(laptop, ['token', 'create', '--json']);
    const tid = json<{ tid: string }>(made.stdout).tid;
    const listed = await cli(second, ['token', 'list', '--json']);
    expect(listed.code).toBe(0);
    expect(listed.stderr).toBe('');
    expect(json<{ tid: string }[]>(listed.stdout).map((t) => t.tid)).toContain(tid);

    expect((await cli(laptop, ['selector', 'save', 'webs', 'tag:role=web'])).code).toBe(0);
    const selectors = await cli(second, ['selector', 'list', '--json']);
    expect(json<{ name: string; selector: string }[]>(selectors.stdout)).toContainEqual(expect.objectContaining({ name: 'webs', selector: 'tag:role=web' }));
    const ran = await cli(second, ['run', '@webs', '--no-persist', '--json', '--', 'true']);
    expect(ran.code).toBe(0);
    expect(json<{ results: { id: string }[] }>(ran.stdout).results.map((r) => r.id)).toEqual([web.id]);
  }, 60_000);

  it('shows a host rejected in one home as rejected in the other', async () => {
    // A host holding a revoked token joins as pending.
    const made = json<{ tid: string; token: string }>((await cli(laptop, ['token', 'create', '--json'])).stdout);
    expect((await cli(laptop, ['token', 'revoke', made.tid])).code).toBe(0);
    pending = await startAgent(join(base, 'pending'), made.token, ['--tag', 'role=stray']);
    const before = json<HostRow[]>((await cli(second, ['hosts', '--json'])).stdout);
    expect(before.find((h) => h.id === pending!.id)?.status).toBe('pending');
    const rejected = await cli(laptop, ['reject', pending.id]);
    expect(rejected.code).toBe(0);
    expect(rejected.stderr).toBe('');
    const after = json<HostRow[]>((await cli(second, ['hosts', '--json'])).stdout);
    expect(after.find((h) => h.id === pending!.id)?.status).toBe('rejected');
  }, 60_000);

  it('queues a task for a stopped agent, lists it in the other home, cancels another, and keeps history', async () => {
    const live = await cli(laptop, ['run', 'tag:role=web', '--no-persist', '--json', '--', 'echo live']);
    expect(live.code).toBe(0);
    const liveTask = json<{ task: string }>(live.stdout).task;

    await db.stop();
    const marker = join(base, 'queued-ran');
    const queued = await cli(laptop, ['run', '--queue', '--deadline', '1h', 'tag:role=db', '--no-persist', '--json', '--', `echo once >> ${marker}`]);
    expect(queued.code).toBe(0);
    const report = json<{ task: string; queued: number; results: { id: string; status: string; deadline: number }[] }>(queued.stdout);
    expect(report.queued).toBe(1);
    expect(report.results).toEqual([expect.objectContaining({ id: db.id, status: 'queued' })]);
    expect(report.results[0]!.deadline).toBeGreaterThan(Date.now() + 50 * 60_000);

    const cancelled = json<{ task: string }>(
      (await cli(laptop, ['run', '--queue', 'tag:role=db', '--no-persist', '--json', '--', `echo cancelled >> ${marker}`])).stdout,
    ).task;
    const cancel = await cli(second, ['queue', 'cancel', cancelled]);
    expect(cancel.code).toBe(0);

    type Entry = { task: string; device: string; hosts: { id: string; state: string; exit?: number | null }[] };
    const list = json<Entry[]>((await cli(second, ['queue', 'list', '--json'])).stdout);
    expect(list.find((e) => e.task === report.task)).toMatchObject({ device: 'laptop', hosts: [{ id: db.id, state: 'queued' }] });
    expect(list.find((e) => e.task === cancelled)?.hosts).toEqual([expect.objectContaining({ id: db.id, state: 'cancelled' })]);

    type History = { task: string; device: string; command: string; results: { host: string; status: string; exit?: number }[] }[];
    const history = json<History>((await cli(second, ['history', '--json'])).stdout);
    expect(history.find((h) => h.task === liveTask)).toMatchObject({ device: 'laptop', command: 'run', results: [{ host: web.id, status: 'ok', exit: 0 }] });
    expect(history.find((h) => h.task === report.task)?.results).toEqual([expect.objectContaining({ host: db.id, status: 'queued' })]);
    const onlyWeb = json<History>((await cli(second, ['history', '--host', web.id.slice(0, 10), '--status', 'ok', '--json'])).stdout);
    expect(onlyWeb.map((h) => h.task)).toContain(liveTask);
    expect(onlyWeb.map((h) => h.task)).not.toContain(report.task);

    // A file pushed with --queue travels inside the task (at most 128 KiB) and is written once the host is back.
    const local = join(base, 'queued-file.txt');
    const remote = join(base, 'db-received.txt');
    await writeFile(local, 'pushed while offline\n');
    const pushed = await cli(laptop, ['push', '--queue', 'tag:role=db', local, remote, '--json']);
    expect(pushed.code, pushed.stderr).toBe(0);
    const pushTask = json<{ task: string; results: { status: string }[] }>(pushed.stdout);
    expect(pushTask.results).toEqual([expect.objectContaining({ status: 'queued' })]);

    dbRestarted = restartAgent(join(base, 'db'), ['--tag', 'role=db']);
    const deadline = Date.now() + 45_000;
    let state = 'queued';
    while (state === 'queued' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      const entries = json<Entry[]>((await cli(second, ['queue', 'list', '--json'])).stdout);
      state = entries.find((e) => e.task === report.task)?.hosts[0]?.state ?? 'queued';
    }
    expect(state, dbRestarted.output().slice(-4000)).toBe('ok');
    expect(await readFile(marker, 'utf8')).toBe('once\n');
    const ran = json<History>((await cli(second, ['history', '--json'])).stdout).find((h) => h.task === report.task);
    expect(ran?.results).toEqual([expect.objectContaining({ host: db.id, status: 'ok', exit: 0 })]);
    const shown = await cli(second, ['queue', 'show', report.task]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/== \S+ \(ok, exit 0\)/);
    let pushState = 'queued';
    while (pushState === 'queued' && Date.now() < deadline + 15_000) {
      const entries = json<Entry[]>((await cli(second, ['queue', 'list', '--json'])).stdout);
      pushState = entries.find((e) => e.task === pushTask.task)?.hosts[0]?.state ?? 'queued';
      if (pushState === 'queued') await new Promise((r) => setTimeout(r, 1000));
    }
    expect(pushState).toBe('ok');
    expect(await readFile(remote, 'utf8')).toBe('pushed while offline\n');
  }, 150_000);

  it('leaves a tag-window task that a host enrolled later runs', async () => {
    const marker = join(base, 'window-ran');
    // No host has the tag yet: the window is left in the store all the same.
    const left = await cli(laptop, ['run', '--window', '1h', 'tag:role=late', '--no-persist', '--json', '--', `echo late >> ${marker}`]);
    expect(left.code).toBe(0);
    const task = json<{ task: string; total: number }>(left.stdout);
    expect(task.total).toBe(0);
    const created = json<{ token: string }>((await cli(laptop, ['token', 'create', '--json'])).stdout);
    const late = await startAgent(join(base, 'late'), created.token, ['--tag', 'role=late']);
    try {
      // Accepted by its token; the laptop then adds it to the fleet keyring, which opens the window for it.
      expect((await cli(laptop, ['hosts', '--json'])).code).toBe(0);
      const deadline = Date.now() + 45_000;
      let state: string | undefined;
      while (state !== 'ok' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1000));
        const entries = json<{ task: string; hosts: { id: string; state: string }[] }[]>((await cli(second, ['queue', 'list', '--json'])).stdout);
        state = entries.find((e) => e.task === task.task)?.hosts.find((h) => h.id === late.id)?.state;
      }
      expect(state, late.output().slice(-3000)).toBe('ok');
      expect(await readFile(marker, 'utf8')).toBe('late\n');
    } finally {
      await late.stop();
    }
  }, 120_000);

  it('removes a host from both homes', async () => {
    const removed = await cli(laptop, ['remove', web.id]);
    expect(removed.code).toBe(0);
    expect(removed.stderr).toContain('fleet keyring rotated');
    for (const home of [laptop, second]) {
      const hosts = json<HostRow[]>((await cli(home, ['hosts', '--json'])).stdout);
      expect(hosts.map((h) => h.id)).not.toContain(web.id);
    }
  }, 60_000);
});
