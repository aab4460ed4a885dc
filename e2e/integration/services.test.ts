// services with a real agent on a host without systemd as PID 1 (this machine and CI): listing
// and an action both answer one sentence saying so; a viewer may list but not act; an invalid
// unit name never leaves the CLI.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, killAll, removeDir, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let viewer: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let agent: Proc & { id: string };
let stateDir: string;

interface Report {
  ok: number;
  total: number;
  results: { status: string; error: { code: string; message: string } | null; data?: unknown }[];
}

async function ok(home: string, args: string[]) {
  const result = await cli(home, args);
  if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

const NO_SYSTEMD = /this host does not run systemd \(no \/run\/systemd\/system\), so it has no services to list or control/;

describe.skipIf(existsSync('/run/systemd/system'))('services on a host without systemd', () => {
  beforeAll(async () => {
    base = await tempDir('services');
    admin = join(base, 'admin');
    viewer = join(base, 'viewer');
    signal = await startSignal(join(base, 'signal'));
    await ok(admin, ['init', '--signal', signal.url, '--name', 'test-admin']);
    const token = JSON.parse((await ok(admin, ['token', 'create', '--json'])).stdout).token;
    stateDir = join(base, 'alpha');
    agent = await startAgent(stateDir, token, ['--tag', 'role=svc']);
    await ok(admin, ['device', 'add', 'viewer-phone', '--home', viewer, '--role', 'viewer']);
    // The agent accepts the token's first handshake; then the viewer knows the host too.
    await ok(admin, ['ping', 'tag:role=svc']);
    await writeFile(join(viewer, 'hosts.json'), await readFile(join(admin, 'hosts.json')));
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await signal?.stop();
    await killAll();
    await removeDir(base);
  });

  it('lists with one sentence saying the host has no systemd, in the table and in --json', async () => {
    const table = await cli(admin, ['services', 'tag:role=svc']);
    expect(table.code, table.stdout + table.stderr).toBe(1);
    expect(table.stdout).toMatch(/HOST\s+STATUS/);
    expect(table.stdout).toMatch(/failed .*unsupported: /);
    expect(table.stdout).toMatch(NO_SYSTEMD);
    expect(table.stderr).toMatch(/0\/1 ok/);
    expect(table.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    const json = await cli(admin, ['services', 'tag:role=svc', '--json']);
    const report = JSON.parse(json.stdout) as Report;
    expect(report.results[0]!.status).toBe('failed');
    expect(report.results[0]!.error!.code).toBe('unsupported');
    expect(report.results[0]!.error!.message).toMatch(NO_SYSTEMD);
  });

  it('answers an action with the same sentence, and the audit log records the request', async () => {
    const result = await cli(admin, ['services', 'tag:role=svc', 'restart', 'cron.service', '--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.results[0]!.error!.code).toBe('unsupported');
    expect(report.results[0]!.error!.message).toMatch(NO_SYSTEMD);
    const audit = await readFile(join(stateDir, 'audit.log'), 'utf8');
    expect(audit).toMatch(/"request":"services","outcome":"accepted","detail":"restart cron.service"/);
  });

  it("lets a viewer list but refuses a viewer's action before it reaches systemctl", async () => {
    const list = await cli(viewer, ['services', 'tag:role=svc', '--json']);
    expect((JSON.parse(list.stdout) as Report).results[0]!.error!.code).toBe('unsupported');
    const status = await cli(viewer, ['services', 'tag:role=svc', 'status', 'cron.service', '--json']);
    expect((JSON.parse(status.stdout) as Report).results[0]!.error!.code).toBe('unsupported');
    const stop = await cli(viewer, ['services', 'tag:role=svc', 'stop', 'cron.service', '--json']);
    expect(stop.code).toBe(1);
    const refused = (JSON.parse(stop.stdout) as Report).results[0]!;
    expect(refused.status).toBe('failed');
    expect(refused.error!.code).toBe('forbidden');
    expect(refused.error!.message).toMatch(/Your role does not allow this action.*a viewer may not send services/);
    const audit = await readFile(join(stateDir, 'audit.log'), 'utf8');
    expect(audit).toMatch(/"deviceName":"viewer-phone".*"request":"services","outcome":"refused","code":"forbidden"/);
  });

  it('refuses an invalid unit name with a sentence, without a dial', async () => {
    for (const unit of ['nginx;reboot', '-H', '../../etc/passwd']) {
      const result = await cli(admin, ['services', 'tag:role=svc', 'start', '--', unit]);
      expect(result.code, unit).toBe(2);
      expect(result.stderr, unit).toMatch(/^usage error: .*(not a systemd unit name|starts with '-').*\n$/);
      expect(result.stdout).toBe('');
    }
    const unknown = await cli(admin, ['services', 'tag:role=svc', 'reboot', 'x']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/"reboot" is not a services action/);
  });
});
