// Host operations: processes. Real agents list a process the test started (pid, command line),
// an operator's kill ends it, a viewer's is refused, and pid 1 and the agent itself are refused.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, killAll, removeDir, ROOT, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let viewer: string;
const agents: (Proc & { id: string })[] = [];
let sleeper: ChildProcess;
// A command line no other process on the machine has.
const MARK = `${Math.floor(Math.random() * 9000 + 1000)}.${process.pid}`;

interface ProcRow {
  pid: number;
  ppid: number;
  user: string;
  command: string;
  state: string;
  cpu: number;
  rssBytes: number;
  startedAt: number;
}
interface Report {
  results: { id: string; hostname: string; status: string; error: { code: string; detail?: string } | null; data?: { kind: string; processes?: ProcRow[] } }[];
}

async function run(home: string, args: string[]): Promise<{ code: number | null; report: Report; stderr: string }> {
  const result = await cli(home, [...args, '--json']);
  return { code: result.code, report: JSON.parse(result.stdout || '{"results":[]}') as Report, stderr: result.stderr };
}

beforeAll(async () => {
  base = await tempDir('processes');
  admin = join(base, 'admin');
  viewer = join(base, 'viewer');
  const signal = await startSignal(join(base, 'signal'));
  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'ops-admin'])).code).toBe(0);
  const token = (JSON.parse((await cli(admin, ['token', 'create', '--uses', '2', '--json'])).stdout) as { token: string }).token;
  for (const name of ['one', 'two']) agents.push(await startAgent(join(base, name), token, ['--tag', `name=${name}`]));
  for (let i = 0; i < 100; i++) {
    const hosts = await cli(admin, ['hosts', '--json']);
    const list = hosts.code === 0 ? (JSON.parse(hosts.stdout) as { id: string; status: string }[]) : [];
    if (agents.every((a) => list.some((h) => h.id === a.id && h.status === 'online'))) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  expect((await cli(admin, ['device', 'add', 'ops-viewer', '--home', viewer, '--role', 'viewer'])).code).toBe(0);
  await writeFile(join(viewer, 'hosts.json'), await readFile(join(admin, 'hosts.json')));
  sleeper = spawn('sleep', [MARK], { stdio: 'ignore' });
}, 120_000);

afterAll(async () => {
  sleeper?.kill('SIGKILL');
  await killAll();
  if (base) await removeDir(base);
});

describe('processes', () => {
  it('ps lists the process the test started, with its pid, parent and command line, on every host', async () => {
    const { code, report } = await run(admin, ['ps', '*', '--grep', MARK]);
    expect(code).toBe(0);
    expect(report.results).toHaveLength(2);
    for (const host of report.results) {
      expect(host.status).toBe('ok');
      const row = host.data?.processes?.find((p) => p.pid === sleeper.pid);
      expect(row, JSON.stringify(host)).toMatchObject({ command: `sleep ${MARK}`, ppid: process.pid, user: 'root' });
      expect(row!.startedAt).toBeGreaterThan(Date.now() - 10 * 60_000);
      // The filter applies on the agent: nothing else matches the mark.
      expect(host.data?.processes?.every((p) => p.command.includes(MARK))).toBe(true);
    }
  });

  it('prints a table per host with the command', async () => {
    const result = await cli(admin, ['ps', 'tag:name=one', '--grep', MARK, '--sort', 'pid']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/PID\s+PPID\s+USER\s+S\s+CPU%/);
    expect(result.stdout).toContain(`sleep ${MARK}`);
    expect((await cli(admin, ['ps', '*', '--sort', 'size'])).stderr).toMatch(/--sort size: use one of cpu, mem, pid/);
  });

  it('refuses a viewer sending a signal, and pid 1 and the agent itself for anyone', async () => {
    const refused = await run(viewer, ['kill', 'tag:name=one', String(sleeper.pid)]);
    expect(refused.code).toBe(1);
    expect(refused.report.results[0]?.error?.code).toBe('forbidden');
    expect(sleeper.exitCode).toBeNull();

    const init = await run(admin, ['kill', 'tag:name=one', '1', '--signal', 'KILL']);
    expect(init.report.results[0]?.error).toMatchObject({ code: 'policy-refused', detail: expect.stringMatching(/init process/) });
    const self = await run(admin, ['kill', 'tag:name=one', String(agents[0]!.child.pid)]);
    expect(self.report.results[0]?.error).toMatchObject({ code: 'policy-refused', detail: expect.stringMatching(/the Flotilla agent itself/) });
    expect(agents[0]!.child.exitCode).toBeNull();
  });

  it('kill ends the process (TERM by default), and a gone pid is reported as not found', async () => {
    const exited = new Promise<string | null>((resolve) => sleeper.once('exit', (_code, signal) => resolve(signal)));
    const { code, report } = await run(admin, ['kill', 'tag:name=one', String(sleeper.pid)]);
    expect(code, JSON.stringify(report)).toBe(0);
    expect(report.results[0]?.data).toEqual({ kind: 'signal', pid: sleeper.pid, signal: 'TERM' });
    expect(await exited).toBe('SIGTERM');
    const again = await run(admin, ['kill', 'tag:name=one', String(sleeper.pid)]);
    expect(again.report.results[0]?.error?.code).toBe('not-found');
  });

  it('ends quietly when its reader goes away (a pipe to head), without a stack trace', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'flotilla.js'), 'run', 'tag:name=one', '--', 'seq 1 300000'], {
      env: { ...process.env, FLOTILLA_HOME: admin, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // Like `| head -1`: read the first chunk, then close the pipe.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    expect(stderr).not.toMatch(/EPIPE|node:events|at /);
    expect(code).toBe(0);
  });
});
