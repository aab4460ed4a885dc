// flotilla jobs (issue 14, CLI): a job saved with the real CLI reaches real agents through the
// signaling server's sealed store and runs on every host its target matches with no controller
// connected (each CLI invocation exits; nothing stays running but the agents and the server);
// `jobs logs` and `jobs list --json` then show the runs of every matching host and none of the
// other; `jobs analysis` has nothing missing; `jobs disable` stops new runs; `jobs rm` makes the
// hosts uninstall it. A viewer device may read jobs but not save them.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, killAll, removeDir, startAgent, startSignal, tempDir, type CliResult, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let viewer: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
const agents: (Proc & { id: string })[] = [];
let webs: string[] = [];
let db: string;

const json = <T>(r: CliResult): T => {
  if (r.code !== 0) throw new Error(`flotilla exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};

interface ListedJob {
  name: string;
  at: number;
  enabled: boolean;
  hosts: { id: string; lastStatus: string | null; jobAt: number }[];
}
interface LoggedRun {
  host: string;
  status: string;
  planned: number;
  trigger: string;
  stdout: string;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const listed = async (home = admin) => json<ListedJob[]>(await cli(home, ['jobs', 'list', '--json']));

/** The jobruns documents of `job` in the admin home's fleet state cache (after a command synced it). */
async function cachedReports(job: string): Promise<{ host: string; installed: boolean; jobAt: number }[]> {
  const snap = JSON.parse(await readFile(join(admin, 'fleet-state.json'), 'utf8')) as { docs: Record<string, { payload: Record<string, unknown> }> };
  return Object.values(snap.docs)
    .map((d) => d.payload)
    .filter((p) => p['type'] === 'jobruns' && p['job'] === job)
    .map((p) => ({ host: p['host'] as string, installed: p['installed'] as boolean, jobAt: p['jobAt'] as number }));
}

beforeAll(async () => {
  base = await tempDir('jobs-cli');
  admin = join(base, 'admin');
  viewer = join(base, 'viewer');
  signal = await startSignal(join(base, 'signal'));
  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'laptop'])).code).toBe(0);
  expect((await cli(admin, ['device', 'add', 'phone', '--home', viewer, '--role', 'viewer'])).code).toBe(0);
  const token = json<{ token: string }>(await cli(admin, ['token', 'create', '--uses', '3', '--json'])).token;
  for (const [name, role] of [
    ['web-a', 'web'],
    ['web-b', 'web'],
    ['db', 'db'],
  ] as const)
    agents.push(await startAgent(join(base, name), token, ['--tag', `role=${role}`]));
  webs = agents.slice(0, 2).map((a) => a.id);
  db = agents[2]!.id;
  // Accepts the three hosts (host certificates, fleet keyring), then lets the viewer announce itself and the admin add it.
  expect((await cli(admin, ['hosts', '--json'])).code).toBe(0);
  expect((await cli(viewer, ['hosts', '--json'])).code).toBe(0);
  expect((await cli(admin, ['hosts', '--json'])).code).toBe(0);
}, 180_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

describe('flotilla jobs against real agents', () => {
  it('runs a */2-second job on every web host with no controller connected, and on no other', async () => {
    const file = join(base, 'tick.yaml');
    await writeFile(
      file,
      'name: tick\ncommand: echo tick-$FLOTILLA_PARAM_WHO {who}\ntarget: tag:role=web\nschedule: "*/2 * * * * *"\nparams:\n  - name: who\n    default: fleet\n',
    );
    const saved = await cli(admin, ['jobs', 'save', file]);
    expect(saved.code).toBe(0);
    expect(saved.stdout).toMatch(
      /^Saved job tick: \*\/2 \* \* \* \* \* on tag:role=web\nMatches 2 known hosts: .+\nNext runs:\n(  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d .+\n){5}$/,
    );

    // No CLI runs while the agents work: each `jobs list` below is a fresh process that reads the store and exits.
    const jobs = await until('both web hosts to report two ok runs', async () => {
      const all = await listed();
      const tick = all.find((j) => j.name === 'tick');
      if (!tick || tick.hosts.length < 2 || tick.hosts.some((h) => h.lastStatus !== 'ok')) return undefined;
      const runs = json<LoggedRun[]>(await cli(admin, ['jobs', 'logs', 'tick', '--json']));
      return webs.every((id) => runs.filter((r) => r.host === id && r.status === 'ok').length >= 2) ? all : undefined;
    });
    const tick = jobs.find((j) => j.name === 'tick')!;
    expect(tick.hosts.map((h) => h.id).sort()).toEqual([...webs].sort());

    const runs = json<LoggedRun[]>(await cli(admin, ['jobs', 'logs', 'tick', '--json']));
    expect(new Set(runs.map((r) => r.host))).toEqual(new Set(webs));
    expect(runs.some((r) => r.host === db)).toBe(false);
    for (const r of runs.filter((x) => x.status === 'ok')) {
      expect(r.trigger).toBe('schedule');
      // The default value reached the command both quoted and in the environment.
      expect(r.stdout).toBe('tick-fleet fleet\n');
    }

    const table = await cli(admin, ['jobs', 'logs', 'tick', webs[0]!.slice(0, 10), '-o', 'wide']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('    tick-fleet fleet');
    expect(table.stdout).toMatch(/ ok +0 +\S+ +schedule/);

    const analysis = json<{ jobs: { job: string; expected: number; reporting: number; hosts: { host: string; missing?: string }[] }[] }>(
      await cli(admin, ['jobs', 'analysis', 'tick', '--json']),
    );
    expect(analysis.jobs).toHaveLength(1);
    expect(analysis.jobs[0]).toMatchObject({ job: 'tick', expected: 2, reporting: 2 });
    expect(analysis.jobs[0]!.hosts.filter((h) => h.missing)).toEqual([]);
  }, 150_000);

  it('lets a viewer device read jobs and refuses it saving one, and refuses a target that does not parse, in one line', async () => {
    const shown = join(base, 'shown.json');
    await writeFile(shown, JSON.stringify({ name: 'shown', command: 'true', target: 'tag:role=nobody', schedule: 'manual' }));
    expect((await cli(admin, ['jobs', 'save', shown])).code).toBe(0);
    expect((await listed(viewer)).map((j) => j.name)).toContain('shown');
    const file = join(base, 'sneaky.json');
    await writeFile(file, JSON.stringify({ name: 'sneaky', command: 'id', target: '*', schedule: '@every 5s' }));
    const refused = await cli(viewer, ['jobs', 'save', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/viewer: saving a job needs an operator or admin device/);
    expect((await listed()).map((j) => j.name)).not.toContain('sneaky');

    // A target that does not parse would run nowhere: refused before anything is written, naming the field.
    await writeFile(file, JSON.stringify({ name: 'broken', command: 'id', target: 'tag:role=web and', schedule: '@every 5s' }));
    const broken = await cli(admin, ['jobs', 'save', file]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/^usage error: \S*sneaky\.json: target: .+\n$/);
    expect((await listed()).map((j) => j.name)).not.toContain('broken');
  }, 60_000);

  it('stops new runs with jobs disable', async () => {
    // The agents' own journals (the jobs capability), not the debounced documents.
    const live = async () => json<LoggedRun[]>(await cli(admin, ['jobs', 'logs', 'tick', '--live', '--limit', '200', '--json', '--no-persist']));
    const key = (r: LoggedRun) => `${r.host}:${r.planned}`;
    // While enabled, 3 periods add runs on each host: the same check below would see a job that kept firing.
    const enabledBefore = await live();
    await new Promise((r) => setTimeout(r, 6500));
    const enabledAfter = await live();
    for (const id of webs) expect(enabledAfter.filter((r) => r.host === id).length).toBeGreaterThan(enabledBefore.filter((r) => r.host === id).length);

    const disabled = json<{ at: number; enabled: boolean }>(await cli(admin, ['jobs', 'disable', 'tick', '--json']));
    expect(disabled.enabled).toBe(false);
    await until('both web hosts to run the disabled version', async () => {
      const tick = (await listed()).find((j) => j.name === 'tick');
      return tick && !tick.enabled && webs.every((id) => tick.hosts.find((h) => h.id === id)?.jobAt === disabled.at) ? true : undefined;
    });
    // Nothing new in 3 periods.
    const before = (await live()).filter((r) => r.status !== 'skipped');
    expect(new Set(before.map((r) => r.host))).toEqual(new Set(webs));
    await new Promise((r) => setTimeout(r, 6500));
    const after = (await live()).filter((r) => r.status !== 'skipped');
    expect(after.map(key)).toEqual(before.map(key));
  }, 150_000);

  it('makes every host uninstall the job with jobs rm', async () => {
    const removed = await cli(admin, ['jobs', 'rm', 'tick']);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/^Removed job tick: its hosts uninstall it/);
    expect((await listed()).map((j) => j.name)).not.toContain('tick');
    await until('both web hosts to report the job uninstalled', async () => {
      await cli(admin, ['jobs', 'list', '--json']);
      const reports = await cachedReports('tick');
      return webs.every((id) => reports.some((r) => r.host === id && !r.installed)) ? true : undefined;
    });
    const show = await cli(admin, ['jobs', 'show', 'tick']);
    expect(show.code).toBe(2);
    expect(show.stderr).toBe('usage error: no job is named "tick"; jobs: shown\n');
  }, 150_000);
});
