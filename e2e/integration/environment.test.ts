// env with a real agent started with FOO=bar and MY_API_TOKEN=xyz: plain values shown, the token
// masked, unmasked only for an admin; another process's environment by --pid.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, killAll, procOf, removeDir, startProc, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let viewer: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let agent: Proc;
let agentState: string;

async function ok(home: string, args: string[]) {
  const result = await cli(home, args);
  if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

interface Variable {
  name: string;
  value: string;
  secret: boolean;
}
interface Report {
  ok: number;
  results: {
    status: string;
    error: { code: string; message: string } | null;
    data?: { pid: number; program: string; variables: Variable[]; etcEnvironment: Variable[] | null; profileD: string[]; secretsShown: boolean };
  }[];
}

/** Control processes this file started (warm mode), killed at the end if still there. */
const controlPids = new Set<number>();

async function controlStatus(home: string): Promise<{ pid: number; requests: number }> {
  const parsed = JSON.parse((await ok(home, ['connect', '--status', '--json'])).stdout) as { pid: number; requests: number };
  controlPids.add(parsed.pid);
  return parsed;
}

async function stopControl(home: string): Promise<void> {
  await cli(home, ['connect', '--stop']).catch(() => undefined);
}

function valueOf(report: Report, name: string): string | undefined {
  return report.results[0]?.data?.variables.find((v) => v.name === name)?.value;
}

beforeAll(async () => {
  base = await tempDir('env');
  admin = join(base, 'admin');
  viewer = join(base, 'viewer');
  signal = await startSignal(join(base, 'signal'));
  await ok(admin, ['init', '--signal', signal.url, '--name', 'test-admin']);
  const token = JSON.parse((await ok(admin, ['token', 'create', '--json'])).stdout).token;
  agentState = join(base, 'agent');
  agent = startProc('flotilla-agent', ['join', token, '--state-dir', agentState], { FOO: 'bar', MY_API_TOKEN: 'xyz' });
  await agent.waitFor(/Enrolled as ([a-z2-7]{52})/);
  await agent.waitFor(/"event":"signaling-open"/);
  // The first contact accepts the agent (its token); the viewer copies the admin's host list.
  await ok(admin, ['ping', '*']);
  await ok(admin, ['device', 'add', 'viewer-phone', '--home', viewer, '--role', 'viewer']);
  await writeFile(join(viewer, 'hosts.json'), await readFile(join(admin, 'hosts.json')));
}, 120_000);

afterAll(async () => {
  await stopControl(admin);
  for (const pid of controlPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await agent?.stop();
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

describe('flotilla env', () => {
  it("shows the agent's environment with FOO=bar and the token masked, to a viewer too", async () => {
    for (const home of [admin, viewer]) {
      const report = JSON.parse((await ok(home, ['env', '*', '--json'])).stdout) as Report;
      expect(report.ok).toBe(1);
      expect(report.results[0]!.data!.pid).toBe(agent.child.pid);
      expect(valueOf(report, 'FOO')).toBe('bar');
      expect(valueOf(report, 'MY_API_TOKEN')).toBe('••••••');
      expect(report.results[0]!.data!.secretsShown).toBe(false);
      expect(JSON.stringify(report)).not.toContain('xyz');
    }
    const table = await ok(admin, ['env', '*']);
    expect(table.stdout).toMatch(/^pid \d+ \(\S+\)\s+FOO\s+bar$/m);
    expect(table.stdout).toMatch(/MY_API_TOKEN\s+••••••$/m);
    expect(table.stdout).not.toContain('xyz');
  });

  it('refuses a viewer asking for secrets, in one sentence and in the audit log; an admin sees them', async () => {
    const refused = await cli(viewer, ['env', '*', '--show-secrets', '--json']);
    expect(refused.code).toBe(1);
    const report = JSON.parse(refused.stdout) as Report;
    expect(report.results[0]!.error!.code).toBe('forbidden');
    expect(report.results[0]!.error!.message).toMatch(/Your role does not allow this action/);
    expect(refused.stdout).not.toContain('xyz');
    const audit = await readFile(join(agentState, 'audit.log'), 'utf8');
    expect(audit).toMatch(/"deviceName":"viewer-phone".*"request":"env".*"outcome":"refused".*"code":"forbidden"/);

    const shown = JSON.parse((await ok(admin, ['env', '*', '--show-secrets', '--json'])).stdout) as Report;
    expect(valueOf(shown, 'MY_API_TOKEN')).toBe('xyz');
    expect(shown.results[0]!.data!.secretsShown).toBe(true);
    expect(await readFile(join(agentState, 'audit.log'), 'utf8')).toMatch(
      /"deviceName":"test-admin".*"request":"env".*"outcome":"accepted".*"detail":"pid agent, secrets shown"/,
    );
  });

  it("reads another process's environment by --pid, and says so plainly for a pid that does not exist", async () => {
    const child = spawn('sleep', ['60'], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', BAZ: 'qux', DB_PASSWORD: 'hunter2' }, stdio: 'ignore' });
    const sleeper = procOf(child, 'sleep');
    try {
      const report = JSON.parse((await ok(admin, ['env', '*', '--pid', String(child.pid), '--json'])).stdout) as Report;
      expect(report.results[0]!.data!.program).toBe('sleep');
      expect(valueOf(report, 'BAZ')).toBe('qux');
      expect(valueOf(report, 'DB_PASSWORD')).toBe('••••••');
      expect(valueOf(report, 'FOO')).toBeUndefined();
    } finally {
      await sleeper.stop();
    }
    const missing = await cli(admin, ['env', '*', '--pid', '4194303', '--json']);
    expect(missing.code).toBe(1);
    expect((JSON.parse(missing.stdout) as Report).results[0]!.error!.message).toMatch(/no process with pid 4194303 on this host/);
    const bad = await cli(admin, ['env', '*', '--pid', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--pid "abc" must be a process id/);
  });

  it('is served by a control process (warm mode), options and all', async () => {
    await ok(admin, ['connect', '--persist', '60s']);
    try {
      const before = await controlStatus(admin);
      const masked = JSON.parse((await ok(admin, ['env', '*', '--json'])).stdout) as Report;
      expect(valueOf(masked, 'MY_API_TOKEN')).toBe('••••••');
      const shown = JSON.parse((await ok(admin, ['env', '*', '--show-secrets', '--json'])).stdout) as Report;
      expect(valueOf(shown, 'MY_API_TOKEN')).toBe('xyz');
      const after = await controlStatus(admin);
      expect(after.pid).toBe(before.pid);
      expect(after.requests - before.requests).toBe(2);
    } finally {
      await stopControl(admin);
    }
  });
});
