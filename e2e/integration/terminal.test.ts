// flotilla shell against a real agent: the CLI runs in tmux (send-keys, capture-pane) for the
// interactive parts (prompt, a command, resize, exit status, ~., reattach after the CLI is
// killed); piped stdin; a viewer and a device without shell access refused and audited, a revoked device refused; a
// recording that holds the bytes shown; cat of 50 MB with the agent's memory bounded.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { cli, killAll, removeDir, ROOT, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let viewer: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let noShell: string;
let agent: Proc & { id: string };
let agentState: string;
const HOST = 'tag:name=term';
const SOCKET = `flotilla-term-${process.pid}`;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}

/** What the pane shows (with its scrollback). */
function screen(target: string): string {
  return tmux('capture-pane', '-p', '-J', '-S', '-2000', '-t', target);
}

async function waitScreen(target: string, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = screen(target);
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in the pane:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A tmux session running `flotilla shell args…` from `home`; the CLI's pid goes to pidFile, its status is printed as EXIT:n. */
function shellWindow(name: string, home: string, args: string[], size = { x: 100, y: 30 }): { pidFile: string } {
  const pidFile = join(base, `${name}.pid`);
  const cmd = `echo $$ > ${pidFile}; FLOTILLA_HOME=${home} NO_COLOR=1 ${process.execPath} ${join(ROOT, 'bin', 'flotilla.js')} shell ${args.map((a) => `'${a}'`).join(' ')}; echo EXIT:$?; sleep 600`;
  // The pane's shell execs nothing itself: $$ is the sh that runs the CLI as its child.
  tmux('new-session', '-d', '-s', name, '-x', String(size.x), '-y', String(size.y), 'sh', '-c', cmd);
  return { pidFile };
}

function childPid(parentPidFile: string): Promise<number> {
  return readFile(parentPidFile, 'utf8').then((pid) => Number(execFileSync('pgrep', ['-P', pid.trim()], { encoding: 'utf8' }).trim().split('\n')[0]));
}

const PROMPT = /[#$] $/m;

async function auditLines(): Promise<{ device: string; request: string; outcome: string; code?: string; detail?: string }[]> {
  return (await readFile(join(agentState, 'audit.log'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { device: string; request: string; outcome: string; code?: string; detail?: string });
}

async function deviceId(home: string): Promise<string> {
  return (JSON.parse((await cli(home, ['device', 'show', '--json'])).stdout) as { id: string }).id;
}

/** Runs flotilla shell with `input` on a piped stdin; stdout as bytes. */
function pipedShell(home: string, args: string[], input: string | undefined): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'flotilla.js'), 'shell', ...args], {
      cwd: ROOT,
      env: { ...process.env, FLOTILLA_HOME: home, NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`flotilla shell ${args.join(' ')} timed out\n${stderr}`));
    }, 60_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
    child.stdin.end(input);
  });
}

beforeAll(async () => {
  base = await tempDir('terminal');
  admin = join(base, 'admin');
  viewer = join(base, 'viewer');
  noShell = join(base, 'no-shell');
  agentState = join(base, 'agent');
  signal = await startSignal(join(base, 'signal'));
  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'ops-admin'])).code).toBe(0);
  const token = (JSON.parse((await cli(admin, ['token', 'create', '--json'])).stdout) as { token: string }).token;
  await mkdir(agentState, { recursive: true });
  await writeFile(join(agentState, 'config.json'), JSON.stringify({ terminal: { recordingMaxBytes: 2 * 1024 * 1024 } }));
  agent = await startAgent(agentState, token, ['--tag', 'name=term']);
  for (let i = 0; i < 100; i++) {
    const hosts = await cli(admin, ['hosts', '--json']);
    const list = hosts.code === 0 ? (JSON.parse(hosts.stdout) as { id: string; status: string }[]) : [];
    if (list.some((h) => h.id === agent.id && h.status === 'online')) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  expect((await cli(admin, ['device', 'add', 'ops-viewer', '--home', viewer, '--role', 'viewer'])).code).toBe(0);
  const added = await cli(admin, ['device', 'add', 'kiosk', '--home', noShell, '--role', 'operator', '--no-shell']);
  expect(added.stdout).toMatch(/without shell access/);
  expect(JSON.parse((await cli(noShell, ['device', 'show', '--json'])).stdout)).toMatchObject({ role: 'operator', deny: ['shell'] });
  for (const home of [viewer, noShell]) await writeFile(join(home, 'hosts.json'), await readFile(join(admin, 'hosts.json')));
  execFileSync('tmux', ['-L', SOCKET, '-f', '/dev/null', 'new-session', '-d', '-s', 'main', '-x', '100', '-y', '30']);
}, 120_000);

afterAll(async () => {
  try {
    execFileSync('tmux', ['-L', SOCKET, 'kill-server'], { stdio: 'ignore' });
  } catch {
    // No server left.
  }
  await killAll();
  if (base) await removeDir(base);
});

describe('flotilla shell', () => {
  it('gives a prompt, runs a command, follows a resize and exits with the remote status', async () => {
    shellWindow('basic', admin, [HOST]);
    await waitScreen('basic', PROMPT);
    tmux('send-keys', '-t', 'basic', 'echo $((6*7))', 'Enter');
    await waitScreen('basic', /^42$/m);
    tmux('send-keys', '-t', 'basic', 'tput cols', 'Enter');
    await waitScreen('basic', /^100$/m);
    tmux('resize-window', '-t', 'basic', '-x', '123', '-y', '30');
    await new Promise((r) => setTimeout(r, 500));
    tmux('send-keys', '-t', 'basic', 'clear; tput cols', 'Enter');
    await waitScreen('basic', /^123$/m);
    tmux('send-keys', '-t', 'basic', 'exit 7', 'Enter');
    await waitScreen('basic', /^EXIT:7$/m);
  });

  it('leaves on ~. with the session still running, and reattaches to it', async () => {
    shellWindow('leave', admin, [HOST]);
    await waitScreen('leave', PROMPT);
    tmux('send-keys', '-t', 'leave', 'MARK=kept-$((40+2))', 'Enter');
    await new Promise((r) => setTimeout(r, 300));
    tmux('send-keys', '-t', 'leave', 'Enter', '~.');
    const text = await waitScreen('leave', /^EXIT:0$/m);
    const session = /Left terminal session (\S+) on/.exec(text)?.[1];
    expect(session, text).toBeDefined();
    const listed = await cli(admin, ['shell', HOST, '--list', '--json']);
    const sessions = JSON.parse(listed.stdout) as { session: string; attached: boolean }[];
    expect(sessions.find((s) => s.session === session)).toMatchObject({ attached: false });
    // Back in: the same shell (its variable is still set).
    shellWindow('back', admin, [HOST, '--attach', session!]);
    await waitScreen('back', PROMPT);
    tmux('send-keys', '-t', 'back', 'echo $MARK', 'Enter');
    await waitScreen('back', /^kept-42$/m);
    tmux('send-keys', '-t', 'back', 'exit', 'Enter');
    await waitScreen('back', /^EXIT:0$/m);
  });

  it('reattaches after the CLI is killed mid-loop: every number once', async () => {
    const { pidFile } = shellWindow('loop', admin, [HOST]);
    await waitScreen('loop', PROMPT);
    tmux('send-keys', '-t', 'loop', 'for i in $(seq 1 20); do echo $i; sleep 0.5; done; echo LOOP-DONE', 'Enter');
    await waitScreen('loop', /^3$/m);
    // Sessions other tests left detached (`~.` leaves one running) are not the one to reattach to.
    const before = new Set(
      (JSON.parse((await cli(admin, ['shell', HOST, '--list', '--json'])).stdout) as { session: string; attached: boolean }[])
        .filter((s) => !s.attached)
        .map((s) => s.session),
    );
    process.kill(await childPid(pidFile), 'SIGKILL');
    await waitScreen('loop', /^EXIT:137$/m);
    const listed = JSON.parse((await cli(admin, ['shell', HOST, '--list', '--json'])).stdout) as { session: string; attached: boolean; command?: string }[];
    // The session the killed CLI had, once the agent noticed the dropped connection and detached
    // it: a killed peer closes nothing, so that takes the data channel's liveness check (seen
    // over 10 s under CI load); up to 30 s here.
    let session: string | undefined;
    for (let i = 0; i < 150 && !session; i++) {
      const now = JSON.parse((await cli(admin, ['shell', HOST, '--list', '--json'])).stdout) as { session: string; attached: boolean; command?: string }[];
      session = now.find((s) => !s.attached && !s.command && !before.has(s.session))?.session;
      if (!session) await new Promise((r) => setTimeout(r, 200));
    }
    expect(session, JSON.stringify(listed)).toBeDefined();
    shellWindow('loop2', admin, [HOST, '--attach', session!]);
    const text = await waitScreen('loop2', /^LOOP-DONE$/m, 30_000);
    const numbers = text.split('\n').filter((l) => /^\d+$/.test(l.trim()));
    expect(numbers.map(Number)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    tmux('send-keys', '-t', 'loop2', 'exit', 'Enter');
    await waitScreen('loop2', /^EXIT:0$/m);
  });

  it('runs a script from piped stdin, without echo, and returns its status', async () => {
    const script = 'echo one\necho two >&2\nprintf "%s\\n" "$((6*7))"\nexit 4\n';
    const result = await pipedShell(admin, [HOST, '--', 'sh -s'], script);
    expect(result.stderr).toBe('');
    expect(result.stdout.toString()).toBe('one\ntwo\n42\n');
    expect(result.code).toBe(4);
  });

  it('keeps a recording that plays back the bytes shown', async () => {
    const result = await pipedShell(admin, [HOST, '--', 'printf "rec-%s\\n" $(seq 1 50); printf "\\033[1mbold\\033[0m caf\\303\\251\\n"'], '');
    expect(result.code).toBe(0);
    const list = await cli(admin, ['recordings', HOST, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const { recordings } = JSON.parse(list.stdout) as { recordings: { id: string; command?: string; endedAt?: number }[] };
    const recording = recordings.find((r) => r.command?.includes('rec-%s'));
    expect(recording?.endedAt).toBeDefined();
    const raw = await cli(admin, ['recordings', HOST, '--play', recording!.id, '--raw']);
    expect(raw.code, raw.stderr).toBe(0);
    const [header, ...events] = raw.stdout.trim().split('\n');
    expect(JSON.parse(header!)).toMatchObject({ version: 2, width: expect.any(Number) as number, height: expect.any(Number) as number });
    const played = events
      .map((l) => JSON.parse(l) as [number, string, string])
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join('');
    // What the CLI showed is the recorded output after the piped preamble's mark.
    const shown = result.stdout.toString('utf8');
    expect(played.endsWith(shown)).toBe(true);
    expect(shown).toContain('rec-50\n');
    // --play writes the output itself.
    const play = await cli(admin, ['recordings', HOST, '--play', recording!.id, '--speed', '100']);
    expect(play.stdout.endsWith(shown)).toBe(true);
  });

  it('refuses a viewer and a device without shell access, and audits both', async () => {
    const asViewer = await cli(viewer, ['shell', HOST, '--', 'id']);
    expect(asViewer.code).toBe(2);
    expect(asViewer.stderr).toMatch(/role does not allow/i);
    const kiosk = await cli(noShell, ['shell', HOST, '--', 'id']);
    expect(kiosk.code).toBe(2);
    expect(kiosk.stderr).toMatch(/certificate denies shell/);
    // The same kiosk may still do what its role allows.
    expect((await cli(noShell, ['run', HOST, '--', 'true'])).code).toBe(0);
    let audit = await auditLines();
    const [viewerId, kioskId] = [await deviceId(viewer), await deviceId(noShell)];
    expect(audit.find((r) => r.device === viewerId && r.request === 'terminal.open')).toMatchObject({ outcome: 'refused', code: 'forbidden' });
    expect(audit.find((r) => r.device === kioskId && r.request === 'terminal.open')).toMatchObject({ outcome: 'refused', code: 'forbidden' });
    // Accepted sessions are audited with their start and end.
    expect((await pipedShell(admin, [HOST, '--', 'exit 7'], '')).code).toBe(7);
    const adminId = await deviceId(admin);
    audit = await auditLines();
    expect(audit.some((r) => r.device === adminId && r.code === 'session-started' && /user root/.test(r.detail ?? ''))).toBe(true);
    expect(audit.some((r) => r.device === adminId && r.code === 'session-ended' && /exit 7/.test(r.detail ?? ''))).toBe(true);
  });

  it('refuses a revoked device before it reaches the agent, and the signaling server logs it', async () => {
    const lost = join(base, 'lost-phone');
    expect((await cli(admin, ['device', 'add', 'lost-phone', '--home', lost, '--role', 'operator'])).code).toBe(0);
    await writeFile(join(lost, 'hosts.json'), await readFile(join(admin, 'hosts.json')));
    const lostId = await deviceId(lost);
    expect((await cli(admin, ['device', 'revoke', lostId])).code).toBe(0);
    const refused = await cli(lost, ['shell', HOST, '--', 'id']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/has been revoked from the fleet/);
    // Refused before it dials: the signaling server logs the refusal, and the agent never opened a session for it.
    expect(signal.output()).toMatch(/"event":"api\.refused".*"code":"cert-revoked"/);
    const audit = await auditLines();
    expect(audit.some((r) => r.device === lostId && r.request === 'terminal.open' && r.outcome !== 'refused')).toBe(false);
  });

  it('refuses a user without a login shell, as login and sshd do', async () => {
    const result = await pipedShell(admin, [HOST, '--user', 'nobody', '--', 'id -un'], '');
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/nobody has no login shell \(\/usr\/sbin\/nologin\)/);
    expect(result.stdout.length).toBe(0);
  });

  it('answers mistakes in one sentence', async () => {
    const gone = await cli(admin, ['shell', HOST, '--attach', 'nosuchsession']);
    expect(gone.code).toBe(2);
    expect(gone.stderr.trim()).toMatch(/^error: .*no terminal session nosuchsession on this host/);
    expect(gone.stderr.trim().split('\n')).toHaveLength(1);
    const none = await cli(admin, ['shell']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^usage error: flotilla shell takes one host/);
    const user = await pipedShell(admin, [HOST, '--user', 'no-such-user-x', '--', 'true'], '');
    expect(user.code).toBe(2);
    expect(user.stderr.trim()).toMatch(/no such user "no-such-user-x"/);
    const recording = await cli(admin, ['recordings', HOST, '--play', '20990101T000000Z-nothing']);
    expect(recording.code).toBe(2);
    expect(recording.stderr.trim()).toMatch(/no recording 20990101T000000Z-nothing on this host/);
  });

  it('cats 50 MB to the terminal with the agent memory bounded', async () => {
    const big = join(base, 'big.txt');
    await new Promise<void>((resolve, reject) => {
      const out = createWriteStream(big);
      const line = 'x'.repeat(99) + '\n';
      const block = line.repeat(10_000); // 1 MB
      let n = 0;
      const more = () => {
        while (n < 50) {
          n++;
          if (!out.write(block)) return void out.once('drain', more);
        }
        out.end(resolve);
      };
      out.on('error', reject);
      more();
    });
    const rss = () => {
      const status = execFileSync('cat', [`/proc/${agent.child.pid}/status`], { encoding: 'utf8' });
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    };
    const before = rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 100);
    let bytes = 0;
    const code = await new Promise<number | null>((resolve) => {
      // A reader that takes its time: the agent must wait for it, not buffer for it.
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'flotilla.js'), 'shell', HOST, '--', `cat ${big}`], {
        cwd: ROOT,
        env: { ...process.env, FLOTILLA_HOME: admin, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      child.stdout.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes < 20 * 1024 * 1024) {
          child.stdout.pause();
          setTimeout(() => child.stdout.resume(), 2);
        }
      });
      child.once('close', resolve);
    });
    clearInterval(sampler);
    expect(code).toBe(0);
    expect(bytes).toBe(50_000_000);
    const grew = (peak - before) / 1024 / 1024;
    console.log(
      `agent VmRSS ${(before / 1048576).toFixed(0)} MiB before, ${(peak / 1048576).toFixed(0)} MiB at most during cat of 50 MB (+${grew.toFixed(0)} MiB)`,
    );
    expect(grew).toBeLessThan(40);
  });
});
