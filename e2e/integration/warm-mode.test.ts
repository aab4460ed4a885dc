// Warm mode with real processes: a signaling server, two agents, the CLI and its control process
// (`flotilla connect`, --persist). Invocations go through the control process's unix socket and
// reuse its open data channels; Ctrl-C cancels on the hosts; hostile clients are refused.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { cli as harnessCli, killAll, removeDir, startAgent, startSignal, tempDir, type CliResult, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let work: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
const agents: (Proc & { id: string })[] = [];
const controlPids = new Set<number>();

/** `flotilla args…` with FLOTILLA_HOME=admin, run from `cwd` (relative paths are the client's). */
function cli(args: string[], options: { cwd?: string; env?: Record<string, string>; onStart?: (pid: number) => void } = {}): Promise<CliResult> {
  const { onStart, ...rest } = options;
  return harnessCli(admin, args, {
    cwd: work,
    ...rest,
    env: { FLOTILLA_PERSIST: '', ...options.env },
    ...(onStart ? { onStart: (child) => child.pid && onStart(child.pid) } : {}),
  });
}

async function ok(args: string[], options: Parameters<typeof cli>[1] = {}): Promise<CliResult> {
  const result = await cli(args, options);
  if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

interface Status {
  pid: number;
  requests: number;
  connections: { id: string; name: string }[];
}

/** The control process's status, or undefined when none answers. */
async function status(): Promise<Status | undefined> {
  const result = await cli(['connect', '--status', '--json']);
  if (result.code !== 0) return undefined;
  const parsed = JSON.parse(result.stdout) as Status;
  controlPids.add(parsed.pid);
  return parsed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function pgrep(pattern: string): string {
  try {
    return execFileSync('pgrep', ['-f', `^${pattern}`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** Sessions each agent has opened so far (one per new data channel from a controller). */
const sessionsOpened = () => agents.map((a) => (a.output().match(/"event":"session-open"/g) ?? []).length);

/** Sends raw bytes to the control socket and collects what comes back until it closes. */
function rawExchange(bytes: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(join(admin, 'control.sock'));
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.subarray(4).toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
    socket.on('connect', () => socket.write(bytes));
    setTimeout(() => socket.destroy(), 10_000);
  });
}

function frame(value: unknown): Uint8Array {
  const body = Buffer.from(JSON.stringify(value));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

beforeAll(async () => {
  base = await tempDir('warm');
  admin = join(base, 'admin');
  work = join(base, 'work');
  await mkdir(work, { recursive: true });
  signal = await startSignal(join(base, 'signal'));
  await ok(['init', '--signal', signal.url, '--name', 'warm-admin']);
  const token = JSON.parse((await ok(['token', 'create', '--uses', '2', '--json'])).stdout).token as string;
  for (const name of ['echo', 'foxtrot']) agents.push(await startAgent(join(base, name), token, ['--tag', 'role=warm', '--allow-root', base]));
  await waitFor(
    'both agents online and accepted',
    async () => {
      const hosts = await cli(['hosts', '--json']);
      const list = hosts.code === 0 ? (JSON.parse(hosts.stdout) as { id: string; status: string }[]) : [];
      return agents.every((a) => list.some((h) => h.id === a.id && h.status === 'online')) ? true : undefined;
    },
    60_000,
  );
}, 120_000);

afterAll(async () => {
  await cli(['connect', '--stop']).catch(() => undefined);
  for (const pid of controlPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await Promise.all(agents.map((a) => a.stop()));
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

describe('warm mode: a control process keeps connections open between CLI invocations', () => {
  it('connect starts a control process on a 0600 socket and dials every host', async () => {
    const result = await ok(['connect', '--persist', '60s']);
    expect(result.stdout).toMatch(/HOST\s+STATUS\s+RTT/);
    expect(result.stdout.match(/\bok\b/g)).toHaveLength(2);
    expect((await stat(join(admin, 'control.sock'))).mode & 0o777).toBe(0o600);
    const s = await status();
    expect(s?.connections.map((c) => c.id).sort()).toEqual(agents.map((a) => a.id).sort());
    expect(alive(s!.pid)).toBe(true);
  });

  it('run goes through the control process and reuses its connections', async () => {
    const before = await status();
    const opened = sessionsOpened();
    const json = await ok(['run', 'tag:role=warm', '--json', '--', 'echo warm-ok']);
    const report = JSON.parse(json.stdout) as { results: { status: string; exit: number; stdout: string }[] };
    expect(report.results).toHaveLength(2);
    expect(report.results.every((r) => r.status === 'ok' && r.exit === 0 && r.stdout === 'warm-ok\n')).toBe(true);
    const text = await ok(['run', 'tag:role=warm', '--', 'echo streamed; echo oops >&2']);
    expect(text.stdout.match(/^\S+ \| streamed$/gm)).toHaveLength(2);
    expect(text.stdout.match(/^\S+ ! \| oops$/gm)).toHaveLength(2);
    expect(text.stderr).toMatch(/2\/2 ok/);
    const after = await status();
    expect(after?.pid).toBe(before?.pid);
    expect(after!.requests - before!.requests).toBe(2);
    // No new data channel: the agents saw no new session.
    expect(sessionsOpened()).toEqual(opened);
  });

  it('`*` takes in a host that joined after connect, and reports one killed since as offline', async () => {
    // run starts on the hosts it holds connections to before presence answers; these are the
    // two cases where presence must still decide: a new host, and a dead one whose connection
    // still looks open (ICE would take seconds to notice).
    const before = await status();
    const token = JSON.parse((await ok(['token', 'create', '--json'])).stdout).token as string;
    const golf = await startAgent(join(base, 'golf'), token, ['--tag', 'role=late', '--allow-root', base]);
    type Report = { results: { id: string; status: string; stdout: string; error: { detail?: string } | null }[] };
    try {
      const joined = JSON.parse((await ok(['run', '*', '--json', '--', 'echo here'])).stdout) as Report;
      expect(joined.results.map((r) => r.id).sort()).toEqual([...agents.map((a) => a.id), golf.id].sort());
      expect(joined.results.every((r) => r.status === 'ok' && r.stdout === 'here\n')).toBe(true);
      expect((await status())?.connections.map((c) => c.id)).toContain(golf.id);
      await golf.stop('SIGKILL');
      await waitFor('presence to report the killed host offline', async () => {
        const hosts = await cli(['hosts', '--json']);
        const list = hosts.code === 0 ? (JSON.parse(hosts.stdout) as { id: string; status: string }[]) : [];
        return list.some((h) => h.id === golf.id && h.status === 'offline') ? true : undefined;
      });
      const gone = await cli(['run', '*', '--json', '--', 'echo here']);
      expect(gone.code).toBe(1);
      const report = JSON.parse(gone.stdout) as Report;
      expect(report.results.find((r) => r.id === golf.id)).toMatchObject({
        status: 'unreachable',
        error: { detail: 'offline according to the signaling server' },
      });
      expect(report.results.filter((r) => r.id !== golf.id).every((r) => r.status === 'ok')).toBe(true);
      expect((await status())?.pid).toBe(before?.pid);
    } finally {
      await golf.stop();
      await ok(['reject', golf.id]); // later tests dial every accepted host
    }
  });

  it("push and fetch resolve relative paths against the client's directory", async () => {
    const data = randomBytes(40 * 1024);
    await writeFile(join(work, 'payload.bin'), data);
    const remote = join(base, 'pushed', 'payload.bin');
    await ok(['push', 'tag:role=warm', 'payload.bin', remote, '--mode', '0640']);
    expect((await readFile(remote)).equals(data)).toBe(true);
    expect((await stat(remote)).mode & 0o777).toBe(0o640);
    await ok(['fetch', 'tag:role=warm', remote, 'fetched']);
    const dirs = await readdir(join(work, 'fetched'));
    expect(dirs).toHaveLength(2);
    for (const dir of dirs) expect((await readFile(join(work, 'fetched', dir, 'payload.bin'))).equals(data)).toBe(true);
  });

  it('Ctrl-C in the client cancels the command on every host; the control process stays', async () => {
    const marker = `100.${Date.now() % 100000}7`;
    let pid = 0;
    const running = cli(['run', 'tag:role=warm', '--json', '--', `sleep ${marker}`], { onStart: (p) => (pid = p) });
    await waitFor('both sleeps to start', () => (pgrep(`sleep ${marker}`).split('\n').filter(Boolean).length === 2 ? true : undefined));
    process.kill(pid, 'SIGINT');
    const result = await running;
    expect(result.code).toBe(130);
    const report = JSON.parse(result.stdout) as { results: { status: string }[] };
    expect(report.results.map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    await waitFor('the sleeps to be gone', () => (pgrep(`sleep ${marker}`) === '' ? true : undefined), 10_000);
    expect(await status()).toBeDefined();
  });

  it('refuses malformed frames, oversized frames and commands it does not serve, and keeps serving', async () => {
    expect(await rawExchange(Buffer.from([0, 0, 0, 5, 110, 111, 112, 101, 33]))).toMatch(/"type":"refused".*not UTF-8 JSON/);
    expect(await rawExchange(Buffer.from([0x7f, 0xff, 0xff, 0xff]))).toMatch(/"type":"refused".*exceeds/);
    expect(await rawExchange(frame({ type: 'invoke', v: 1, argv: 'run' }))).toMatch(/"type":"refused".*malformed message/);
    const init = await rawExchange(
      frame({ type: 'invoke', v: 1, argv: ['init', '--force', '--signal', 'http://x/'], cwd: '/', stdoutTty: false, stderrTty: false, color: false }),
    );
    expect(init).toMatch(/"type":"refused".*serves .*, not init/);
    for (const served of ['run', 'push', 'fetch', 'ping']) expect(init).toMatch(new RegExp(`serves .*\\b${served}\\b.*, not init`));
    const oldVersion = await rawExchange(
      frame({ type: 'invoke', v: 99, argv: ['run', '*', '--', 'true'], cwd: '/', stdoutTty: false, stderrTty: false, color: false }),
    );
    expect(oldVersion).toMatch(/"type":"refused".*control protocol 99/);
    expect(await status()).toBeDefined();
  });

  it('--no-persist dials directly although a control process runs', async () => {
    const before = await status();
    const result = await ok(['run', 'tag:role=warm', '--no-persist', '--json', '--', 'true']);
    expect(JSON.parse(result.stdout).results).toHaveLength(2);
    expect((await status())?.requests).toBe(before?.requests);
  });

  it('connect --stop ends it; later commands dial directly', async () => {
    const { pid } = (await status())!;
    expect((await ok(['connect', '--stop'])).stdout).toMatch(/Stopped/);
    await waitFor('the control process to exit', () => (alive(pid) ? undefined : true), 10_000);
    expect(existsSync(join(admin, 'control.sock'))).toBe(false);
    expect(await status()).toBeUndefined();
    const result = await ok(['run', 'tag:role=warm', '--json', '--', 'true']);
    expect(JSON.parse(result.stdout).results).toHaveLength(2);
  });

  it('--persist starts a control process on first use, which exits after the idle time', async () => {
    const first = await ok(['run', 'tag:role=warm', '--persist', '3s', '--json', '--', 'echo first']);
    expect(JSON.parse(first.stdout).results).toHaveLength(2);
    const s = await status();
    expect(s?.requests).toBe(1);
    await waitFor('the idle control process to exit', () => (alive(s!.pid) ? undefined : true), 30_000);
    expect(existsSync(join(admin, 'control.sock'))).toBe(false);
  });

  it('a control process killed with SIGKILL leaves a stale socket that is ignored, then replaced', async () => {
    await ok(['connect', '--persist', '60s']);
    const { pid } = (await status())!;
    process.kill(pid, 'SIGKILL');
    await waitFor('the control process to die', () => (alive(pid) ? undefined : true), 10_000);
    expect(existsSync(join(admin, 'control.sock'))).toBe(true);
    const direct = await ok(['run', 'tag:role=warm', '--json', '--', 'true']);
    expect(JSON.parse(direct.stdout).results).toHaveLength(2);
    const env = { FLOTILLA_PERSIST: '60s' };
    await ok(['run', 'tag:role=warm', '--json', '--', 'true'], { env });
    const replaced = await status();
    expect(replaced?.pid).not.toBe(pid);
    expect(replaced?.requests).toBe(1);
  });

  it('four control processes started at once leave exactly one, which serves', async () => {
    await ok(['connect', '--stop']);
    const pids: number[] = [];
    let settled = 0;
    const started = [0, 1, 2, 3].map(() =>
      cli(['control-process', '--persist', '60s'], { onStart: (pid) => (pids.push(pid), controlPids.add(pid)) }).then((r) => (settled++, r)),
    );
    await waitFor('three of them to give way', () => (settled >= 3 ? true : undefined), 30_000);
    const survivors = pids.filter(alive);
    expect(survivors).toHaveLength(1);
    const s = await waitFor('the one left to listen', () => status());
    expect(s.pid).toBe(survivors[0]);
    const run = await ok(['run', 'tag:role=warm', '--json', '--', 'true']);
    expect(JSON.parse(run.stdout).results).toHaveLength(2);
    expect((await status())?.requests).toBe(1);
    await ok(['connect', '--stop']);
    const results = await Promise.all(started);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(results.filter((r) => /control-already-running/.test(r.stdout + r.stderr))).toHaveLength(3);
  });
});
