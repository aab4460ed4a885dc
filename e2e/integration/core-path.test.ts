// The core path with real processes: signaling server, three agents and the CLI, all on
// loopback inside the private network namespace the test runner makes.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFile, writeFile, stat, readdir } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { cli, killAll, removeDir, restartAgent, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
const agents: (Proc & { id: string; stateDir: string; name: string })[] = [];
let token: string;

function hostnames(stdout: string): string[] {
  return [...stdout.matchAll(/^(\S+) \| /gm)].map((m) => m[1]!);
}

async function ok(home: string, args: string[]) {
  const result = await cli(home, args);
  if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

function pgrep(pattern: string): string {
  try {
    // Anchored: the CLI's own command line also contains the pattern.
    return execFileSync('pgrep', ['-f', `^${pattern}`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Waits until the three agents are online again (after a restart of anything). */
async function allOnline(): Promise<void> {
  await waitFor(
    'the agents to be online',
    async () => {
      const hosts = await cli(admin, ['hosts', '--json']);
      if (hosts.code !== 0) return undefined;
      const list = JSON.parse(hosts.stdout) as { id: string; status: string }[];
      return agents.every((a) => list.some((h) => h.id === a.id && h.status === 'online')) ? true : undefined;
    },
    60_000,
  );
}

beforeAll(async () => {
  base = await tempDir('core');
  admin = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  await ok(admin, ['init', '--signal', signal.url, '--name', 'test-admin']);
  token = JSON.parse((await ok(admin, ['token', 'create', '--uses', '3', '--json'])).stdout).token;
  const specs = [
    { name: 'alpha', flags: ['--tag', 'role=web', '--tag', 'zone=a', '--region', 'eu-west'] },
    { name: 'bravo', flags: ['--tag', 'role=web', '--tag', 'zone=b', '--region', 'eu-west'] },
    { name: 'charlie', flags: ['--tag', 'role=web', '--tag', 'zone=c', '--region', 'us-east'] },
  ];
  for (const spec of specs) {
    const stateDir = join(base, spec.name);
    const proc = await startAgent(stateDir, token, [...spec.flags, '--allow-root', base]);
    agents.push(Object.assign(proc, { stateDir, name: spec.name }));
  }
  // Every agent proves the token in its first handshake and is accepted automatically.
  await allOnline();
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

describe('core path through the CLI', () => {
  it("runs a command on a tag selector and streams every host's output with a summary", async () => {
    const result = await cli(admin, ['run', 'tag:role=web', '--', 'echo out-$(cat /proc/sys/kernel/hostname); echo err >&2']);
    expect(result.code).toBe(0);
    expect(hostnames(result.stdout)).toHaveLength(3);
    expect(result.stdout).toMatch(/out-/);
    expect(result.stderr).toMatch(/3\/3 ok/);
    expect(result.stdout).toMatch(/HOST\s+STATUS\s+EXIT/);
  });

  it('reports JSON per host with exit codes, and fails when a host fails', async () => {
    const result = await cli(admin, ['run', 'tag:zone=a or tag:zone=b', '--json', '--', 'exit 3']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { results: { status: string; exit: number }[] };
    expect(report.results).toHaveLength(2);
    expect(report.results.every((r) => r.status === 'failed' && r.exit === 3)).toBe(true);
  });

  it('pushes a 30 KB and a 5 MB file byte-exact with their mode', async () => {
    for (const [size, mode] of [
      [30 * 1024, '0640'],
      [5 * 1024 * 1024, '0755'],
    ] as const) {
      const local = join(base, `payload-${size}`);
      const data = randomBytes(size);
      await writeFile(local, data);
      const remote = join(base, 'pushed', String(size), 'file.bin');
      const result = await cli(admin, ['push', 'tag:role=web', local, remote, '--mode', mode]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      // All three agents share this machine; each wrote the same path, so check it is intact.
      const written = await readFile(remote);
      expect(written.equals(data)).toBe(true);
      expect((await stat(remote)).mode & 0o777).toBe(parseInt(mode, 8));
    }
  });

  it('moves 24 MB each way in large SCTP packets on loopback, after probing the path, byte-exact', async () => {
    const agent = agents.find((a) => a.name === 'alpha')!;
    const data = randomBytes(24 * 1024 * 1024);
    const local = join(base, 'payload-bulk');
    await writeFile(local, data);
    const remote = join(base, 'pushed', 'bulk', 'file.bin');
    const push = await cli(admin, ['push', '-v', 'tag:zone=a', local, remote]);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect((await readFile(remote)).equals(data)).toBe(true);
    // Each side probed its path and sends large packets: 16,000 bytes of payload from a
    // loopback address (MTU 65536), 1,380 from the test namespace's veth address (MTU 1500).
    const expectLarge = (line: string | undefined) => {
      const choice = JSON.parse(line?.slice(line.indexOf('{')) ?? '{}') as { payload?: number; mtu?: number; probes?: { ok: boolean }[] };
      expect(choice.payload, line).toBe(choice.mtu === 65536 ? 16000 : 1380);
      expect(choice.probes?.[0]?.ok).toBe(true);
    };
    expectLarge(push.stderr.split('\n').find((l) => l.startsWith('[rtc-packet-size]')));
    // -v also shows how long each step of the dial took, in order.
    const steps = push.stderr
      .split('\n')
      .filter((l) => l.startsWith('[rtc-phase]'))
      .map((l) => (JSON.parse(l.slice(l.indexOf('{'))) as { phase: string }).phase);
    expect(steps).toEqual(['offer-sent', 'answer-received', 'ice-connected', 'dtls-connected', 'channel-open']);
    const agentLine = await waitFor('the agent to log its packet size', async () =>
      agent
        .output()
        .split('\n')
        .find((l) => l.includes('"event":"rtc-packet-size"')),
    );
    expectLarge(agentLine);
    const out = join(base, 'fetched-bulk');
    const fetch = await cli(admin, ['fetch', 'tag:zone=a', remote, out]);
    expect(fetch.code, fetch.stdout + fetch.stderr).toBe(0);
    const [dir] = await readdir(out);
    expect((await readFile(join(out, dir!, 'file.bin'))).equals(data)).toBe(true);
  });

  it("refuses a push outside the agent's allowed root", async () => {
    const local = join(base, 'payload-small');
    await writeFile(local, 'x');
    const result = await cli(admin, ['push', 'tag:zone=a', local, '/etc/flotilla-should-not-exist', '--json']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).results[0].error.code).toBe('path-refused');
  });

  it('fetches a file from each host into one file per host', async () => {
    const remote = join(base, 'to-fetch.txt');
    await writeFile(remote, 'fetch me\n');
    const out = join(base, 'fetched');
    const result = await cli(admin, ['fetch', 'tag:role=web', remote, out]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const dirs = await readdir(out);
    expect(dirs).toHaveLength(3);
    for (const dir of dirs) expect(await readFile(join(out, dir, 'to-fetch.txt'), 'utf8')).toBe('fetch me\n');
  });

  it('kills a timed-out command and its children', async () => {
    const marker = `100.${Date.now() % 100000}1`;
    const result = await cli(admin, ['run', 'tag:zone=a', '--timeout', '2s', '--json', '--', `sleep ${marker} & sleep ${marker}; wait`]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).results[0].status).toBe('timeout');
    await waitFor('the sleeps to be gone', async () => (pgrep(`sleep ${marker}`) === '' ? true : undefined), 10_000);
  });

  it('cancels a running command on Ctrl-C', async () => {
    const marker = `100.${Date.now() % 100000}2`;
    const result = await cli(admin, ['run', 'tag:zone=b', '--json', '--', `echo started; sleep ${marker}`], {
      onStart: (child) => {
        child.stdout?.resume();
        const poll = setInterval(() => {
          if (pgrep(`sleep ${marker}`)) {
            clearInterval(poll);
            child.kill('SIGINT');
          }
        }, 200);
      },
    });
    expect(result.code).toBe(130);
    expect(JSON.parse(result.stdout).results[0].status).toBe('cancelled');
    await waitFor('the sleep to be gone', async () => (pgrep(`sleep ${marker}`) === '' ? true : undefined), 10_000);
  });

  it('leaves a host that presents a used-up token pending until an admin accepts it', async () => {
    const stateDir = join(base, 'delta');
    const delta = await startAgent(stateDir, token, ['--tag', 'role=extra', '--allow-root', base]);
    try {
      const listed = JSON.parse((await ok(admin, ['hosts', '--json'])).stdout) as { id: string; status: string }[];
      expect(listed.find((h) => h.id === delta.id)?.status).toBe('pending');
      expect((await cli(admin, ['run', 'tag:role=extra', '--', 'true'])).code).not.toBe(0);
      await ok(admin, ['accept', delta.id.slice(0, 10)]);
      const result = await cli(admin, ['run', 'tag:role=extra', '--json', '--', 'echo accepted']);
      expect(JSON.parse(result.stdout).results[0].stdout).toBe('accepted\n');
    } finally {
      await delta.stop();
    }
  });

  it('sets and removes a tag from the CLI, and selectors follow', async () => {
    await ok(admin, ['tag', agents[2]!.id.slice(0, 10), 'tier=gold']);
    const result = JSON.parse((await cli(admin, ['run', 'tag:tier=gold', '--json', '--', 'echo gold'])).stdout);
    expect(result.results.map((r: { id: string }) => r.id)).toEqual([agents[2]!.id]);
    await ok(admin, ['tag', agents[2]!.id.slice(0, 10), 'tier=']);
    expect((await cli(admin, ['run', 'tag:tier=gold', '--', 'true'])).code).not.toBe(0);
  });

  it('one-of picks exactly one online host', async () => {
    const result = await cli(admin, ['run', 'one-of(tag:role=web)', '--json', '--', 'true']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).results).toHaveLength(1);
  });

  it('keeps the open channel working while the signaling server restarts, and agents re-register', async () => {
    await allOnline();
    const nap = `4.${Date.now() % 100000}7`;
    const run = cli(admin, ['run', 'tag:zone=c', '--', `echo before; sleep ${nap}; echo after`]);
    // Only once the command runs on the host (the CLI has resolved and connected by then).
    await waitFor('the command to start', async () => (pgrep(`sleep ${nap}`) ? true : undefined));
    await signal.stop();
    signal = await startSignal(join(base, 'signal'), signal.port);
    const result = await run;
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/charlie.*\| after|\| after/);
    await allOnline();
  });

  it('reports a run interrupted by SIGKILL of the agent as interrupted, keeping earlier results', async () => {
    const alpha = agents[0]!;
    const earlier = `early-${Date.now()}`;
    await ok(admin, ['run', 'tag:zone=a', '--task', earlier, '--', 'echo kept']);
    const task = `kill-${Date.now()}`;
    const marker = `100.${Date.now() % 100000}3`;
    const run = cli(admin, ['run', 'tag:zone=a', '--task', task, '--json', '--', `echo started; sleep ${marker}`], { timeoutMs: 120_000 });
    await waitFor('the command to start', async () => (pgrep(`sleep ${marker}`) ? true : undefined));
    await new Promise((r) => setTimeout(r, 600)); // the journal gets output within 200 ms
    await alpha.stop('SIGKILL');
    // The CLI waits to reconnect; the agent comes back, finds the run in its journal and marks
    // it interrupted, and the same `run` collects that, with the output it had already shown.
    const restarted = restartAgent(alpha.stateDir, ['--tag', 'role=web', '--tag', 'zone=a', '--region', 'eu-west', '--allow-root', base]);
    agents[0] = Object.assign(restarted, { id: alpha.id, stateDir: alpha.stateDir, name: alpha.name });
    await restarted.waitFor(/task-interrupted/);
    const lost = await run;
    expect(lost.stderr).toMatch(/connection lost while the command runs; reconnecting/);
    const collected = JSON.parse(lost.stdout).results[0];
    expect(collected.status).toBe('interrupted');
    expect(collected.stdout).toBe('started\n');
    await restarted.waitFor(/signaling-open/);
    // Re-sending the same task id answers from the journal instead of running again.
    const replay = JSON.parse((await cli(admin, ['run', 'tag:zone=a', '--task', task, '--json', '--', 'echo must-not-run'])).stdout);
    expect(replay.results[0].status).toBe('interrupted');
    expect(replay.results[0].stdout).toContain('started');
    expect(replay.results[0].stdout).not.toContain('must-not-run');
    const kept = JSON.parse((await cli(admin, ['run', 'tag:zone=a', '--task', earlier, '--json', '--', 'echo again'])).stdout);
    expect(kept.results[0].status).toBe('ok');
    expect(kept.results[0].stdout).toBe('kept\n');
    execFileSync('pkill', ['-f', `^sleep ${marker}`]);
  });
});

describe('authorization with real agents', () => {
  it('refuses a viewer asking to run, and writes the refusal to the audit log', async () => {
    const viewer = join(base, 'viewer');
    await ok(admin, ['device', 'add', 'viewer-phone', '--home', viewer, '--role', 'viewer']);
    await writeFile(join(viewer, 'hosts.json'), await readFile(join(admin, 'hosts.json')));
    const result = await cli(viewer, ['run', 'tag:zone=b', '--json', '--', 'echo should-not-run']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).results[0].error.code).toBe('forbidden');
    const ping = await cli(viewer, ['ping', 'tag:zone=b']);
    expect(ping.code).toBe(0);
    const audit = await readFile(join(agents[1]!.stateDir, 'audit.log'), 'utf8');
    expect(audit).toMatch(/"deviceName":"viewer-phone".*"request":"exec".*"outcome":"refused".*"code":"forbidden"/);
  });

  it('refuses a revoked device after the admin revokes it, at the signaling server and at the agent', async () => {
    const phone = join(base, 'phone');
    const added = await ok(admin, ['device', 'add', 'lost-phone', '--home', phone, '--role', 'operator']);
    const phoneId = /device ([a-z2-7]{52})/.exec(added.stdout)![1]!;
    expect((await cli(phone, ['run', 'tag:zone=b', '--', 'true'])).code).toBe(0);
    await ok(admin, ['device', 'revoke', phoneId]);
    // The admin hands the new list to the agent at its next contact.
    await ok(admin, ['ping', 'tag:zone=b']);
    const result = await cli(phone, ['run', 'tag:zone=b', '--json', '--', 'true']);
    expect(result.code).not.toBe(0);
    // With --json the error is JSON on stdout.
    expect(JSON.parse(result.stdout).error.message).toMatch(/revoked/);
    // Even dialling the agent directly (past the signaling server's check) is refused.
    await expect(dialAs(phone, agents[1]!.id)).rejects.toMatchObject({ code: 'cert-revoked' });
    const audit = await readFile(join(agents[1]!.stateDir, 'audit.log'), 'utf8');
    expect(audit).toMatch(/"request":"handshake","outcome":"refused","code":"cert-revoked"/);
  });

  it('refuses a device from another fleet', async () => {
    const stranger = join(base, 'stranger');
    await ok(stranger, ['init', '--signal', signal.url, '--name', 'stranger']);
    // Agent ids are not secret: the stranger dials one directly.
    await expect(dialAs(stranger, agents[2]!.id)).rejects.toMatchObject({ code: 'not-in-fleet' });
    await waitFor(
      'the refusal in the audit log',
      async () => {
        const audit = await readFile(join(agents[2]!.stateDir, 'audit.log'), 'utf8');
        return /"request":"handshake","outcome":"refused","code":"not-in-fleet"/.test(audit) ? true : undefined;
      },
      10_000,
    );
  });
});

/** Dials an agent from this test process (a real werift peer) as the device stored in `home`. */
async function dialAs(home: string, agentId: string): Promise<void> {
  const { openHome } = await import('../../cli/src/home.ts');
  const { createController } = await import('../../shared/controller/controller.ts');
  const { createRtcEndpoint } = await import('../../node/rtc/rtc-endpoint.ts');
  const { createPeerCredential } = await import('../../shared/identity/tokens.ts');
  const h = await openHome(home);
  const endpoint = createRtcEndpoint({
    signalUrl: signal.url,
    id: h.device.id,
    token: () => createPeerCredential(h.device.keys, { purpose: 'register', kind: 'device', fleet: h.device.fleetId, ...h.device.pub }),
    iceServers: [{ urls: `stun:127.0.0.1:${signal.port}` }],
  });
  try {
    await endpoint.signaling.whenOpen();
    const controller = createController({ device: h.device, dialer: endpoint, hosts: h.hosts });
    await controller.connect(agentId);
  } finally {
    await endpoint.close();
  }
}
