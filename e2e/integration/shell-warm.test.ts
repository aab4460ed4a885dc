// `flotilla shell` through the warm control process (`flotilla connect`): the CLI in tmux gets a
// prompt, runs a command, passes Ctrl-C and resizes on, exits with the remote status and leaves
// on `~.`; piped stdin; a 50 MB cat with the control process's memory bounded; and a control
// process killed mid-session leaves the local terminal as it was. Each shell shows it went through
// the control process: the agent opens no new secure session, the control process counts it.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { cli as harnessCli, killAll, removeDir, ROOT, startAgent, startSignal, tempDir, waitOnline, type CliResult, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let agent: Proc & { id: string };
let controlPid: number | undefined;
const HOST = 'tag:name=warmterm';
const TMUX = `flotilla-shell-warm-${process.pid}`;
const PROMPT = /[#$] $/m;
const FLOTILLA = `${process.execPath} ${join(ROOT, 'bin', 'flotilla.js')}`;

/** `flotilla args…` for the admin home, never starting a control process of its own. */
const cli = (args: string[]) => harnessCli(admin, args, { env: { FLOTILLA_PERSIST: '' } });

const tmux = (...args: string[]) => execFileSync('tmux', ['-L', TMUX, ...args], { encoding: 'utf8' });

async function pane(name: string, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const text = tmux('capture-pane', '-p', '-J', '-S', '-2000', '-t', name);
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`no ${pattern} in pane ${name} within ${timeoutMs} ms:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Types `line` and Enter into the pane, then waits for `expected` there. */
async function type(name: string, line: string, expected: RegExp): Promise<string> {
  tmux('send-keys', '-t', name, line, 'Enter');
  return pane(name, expected);
}

/**
 * Runs `flotilla shell args…` in a tmux window, its status printed as EXIT:n; the pane's terminal
 * settings (`stty -g`) are saved before and after, to <name>.before and <name>.after.
 */
function shellIn(name: string, args: string[]): { sttyBefore: string; sttyAfter: string } {
  const saved = { sttyBefore: join(base, `${name}.before`), sttyAfter: join(base, `${name}.after`) };
  const line = `stty -g > ${saved.sttyBefore}; FLOTILLA_HOME=${admin} FLOTILLA_PERSIST= NO_COLOR=1 ${FLOTILLA} shell ${args.map((a) => `'${a}'`).join(' ')}; echo EXIT:$?; stty -g > ${saved.sttyAfter}; sleep 600`;
  tmux('new-session', '-d', '-s', name, '-x', '100', '-y', '30', 'sh', '-c', line);
  return saved;
}

/** The pane's terminal settings after the CLI exited, once the pane has saved them. */
async function sttyAfter(saved: { sttyAfter: string }): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const text = await readFile(saved.sttyAfter, 'utf8').catch(() => '');
    if (text) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${saved.sttyAfter} was not written`);
}

interface Status {
  pid: number;
  requests: number;
  terminals: { host: string; session: string }[];
}

async function status(): Promise<Status> {
  const result = await cli(['connect', '--status', '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Status;
}

/** Secure sessions the agent has accepted so far: one per controller connection (dial). */
const sessionsOpened = () => (agent.output().match(/"event":"session-open"/g) ?? []).length;

/** `flotilla shell args…` with `input` on a piped stdin; `slowly`: stdout read as a slow pipe would, for its first 20 MB. */
function piped(args: string[], input: string, slowly = false): Promise<CliResult> {
  const slowReader = (child: ChildProcess) => {
    let length = 0;
    // The control process must wait for such a reader, not buffer for it.
    child.stdout?.on('data', (c: Buffer) => {
      length += c.length;
      if (length >= 20 * 1024 * 1024) return;
      child.stdout?.pause();
      setTimeout(() => child.stdout?.resume(), 2);
    });
  };
  return harnessCli(admin, ['shell', ...args], { env: { FLOTILLA_PERSIST: '' }, input, timeoutMs: 100_000, ...(slowly ? { onStart: slowReader } : {}) });
}

function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }))![1]) * 1024;
}

beforeAll(async () => {
  base = await tempDir('shell-warm');
  admin = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  expect((await cli(['init', '--signal', signal.url, '--name', 'warm-shell-admin'])).code).toBe(0);
  const token = (JSON.parse((await cli(['token', 'create', '--json'])).stdout) as { token: string }).token;
  agent = await startAgent(join(base, 'agent'), token, ['--tag', 'name=warmterm']);
  expect(await waitOnline(admin, agent.id, { FLOTILLA_PERSIST: '' })).toBe(true);
  const connected = await cli(['connect', '--persist', '10m']);
  expect(connected.code, connected.stderr).toBe(0);
  controlPid = (await status()).pid;
  execFileSync('tmux', ['-L', TMUX, '-f', '/dev/null', 'new-session', '-d', '-s', 'main', '-x', '100', '-y', '30']);
}, 120_000);

afterAll(async () => {
  spawnSync('tmux', ['-L', TMUX, 'kill-server'], { stdio: 'ignore' }); // fails harmlessly when no server is left
  if (controlPid) {
    try {
      process.kill(controlPid, 'SIGKILL');
    } catch {
      // Already gone (the last test kills it).
    }
  }
  await killAll();
  if (base) await removeDir(base);
});

describe('flotilla shell through the control process', () => {
  it('gives a prompt, passes Ctrl-C and resizes on, exits with the remote status, with no new dial', async () => {
    const dials = sessionsOpened();
    const requests = (await status()).requests;
    const saved = shellIn('basic', [HOST]);
    await pane('basic', PROMPT);
    await type('basic', 'echo $((6*7))', /^42$/m);
    // The control process lists the session running through it.
    const [listed] = (await status()).terminals;
    expect(listed).toEqual({ host: HOST, session: expect.any(String) as string });
    expect((await cli(['connect', '--status'])).stdout).toMatch(new RegExp(`^1 terminal session\\(s\\) through it\\n.*\\n${HOST}\\s+${listed!.session}$`, 'm'));
    tmux('send-keys', '-t', 'basic', 'sleep 100', 'Enter');
    await new Promise((r) => setTimeout(r, 300));
    tmux('send-keys', '-t', 'basic', 'C-c');
    await type('basic', 'echo rc=$?', /^rc=130$/m);
    await type('basic', 'tput cols', /^100$/m);
    tmux('resize-window', '-t', 'basic', '-x', '123', '-y', '30');
    await new Promise((r) => setTimeout(r, 500));
    await type('basic', 'clear; tput cols', /^123$/m);
    await type('basic', 'exit 3', /^EXIT:3$/m);
    expect(sessionsOpened()).toBe(dials);
    const after = await status();
    expect(after.requests).toBeGreaterThan(requests);
    expect(after.terminals).toEqual([]);
    expect(await sttyAfter(saved)).toBe(await readFile(saved.sttyBefore, 'utf8'));
  });

  it('leaves on ~. with the session running, and reattaches to it', async () => {
    const dials = sessionsOpened();
    shellIn('leave', [HOST]);
    await pane('leave', PROMPT);
    await type('leave', 'MARK=kept-$((40+2)); echo set', /^set\n.*[#$] $/m);
    // `~.` right after the Enter that ended that line.
    tmux('send-keys', '-t', 'leave', '~.');
    const text = await pane('leave', /^EXIT:0$/m);
    const session = /Left terminal session (\S+) on/.exec(text)?.[1];
    expect(session, text).toBeDefined();
    shellIn('back', [HOST, '--attach', session!]);
    await pane('back', PROMPT);
    await type('back', 'echo $MARK', /^kept-42$/m);
    await type('back', 'exit', /^EXIT:0$/m);
    expect(sessionsOpened()).toBe(dials);
  });

  it('runs a script from piped stdin and returns its status', async () => {
    const dials = sessionsOpened();
    const requests = (await status()).requests;
    const result = await piped([HOST, '--', 'sh -s'], 'echo one\necho two >&2\nprintf "%s\\n" "$((6*7))"\nexit 4\n');
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('one\ntwo\n42\n');
    expect(result.code).toBe(4);
    expect(sessionsOpened()).toBe(dials);
    expect((await status()).requests).toBe(requests + 1);
  });

  it('cats 50 MB to a slow reader with the control process memory bounded', async () => {
    const requests = (await status()).requests;
    const before = rssOf(controlPid!);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(controlPid!))), 100);
    const result = await piped([HOST, '--', "head -c 50000000 /dev/zero | tr '\\0' x"], '', true).finally(() => clearInterval(sampler));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBe(50_000_000);
    expect(/^x*$/.test(result.stdout)).toBe(true);
    expect((await status()).requests).toBe(requests + 1);
    const grew = (peak - before) / 1048576;
    console.log(
      `control process VmRSS ${(before / 1048576).toFixed(0)} MiB before, ${(peak / 1048576).toFixed(0)} MiB at most during cat of 50 MB (+${grew.toFixed(0)} MiB)`,
    );
    expect(grew).toBeLessThan(40);
  });

  it('refuses a shell invoked over control protocol 1 (that client dials directly instead)', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(join(admin, 'control.sock'));
      let got = '';
      socket.on('data', (c: Buffer) => (got += c.toString()));
      socket.on('error', reject);
      socket.on('close', () => resolve(got));
      const body = Buffer.from(JSON.stringify({ type: 'invoke', v: 1, argv: ['shell', HOST], cwd: '/', stdoutTty: false, stderrTty: false, color: false }));
      const head = Buffer.alloc(4);
      head.writeUInt32BE(body.length);
      socket.on('connect', () => socket.write(Buffer.concat([head, body])));
    });
    expect(answer).toMatch(/"type":"refused","reason":"control protocol 1, this control process speaks 2"/);
  });

  it('leaves the local terminal sane and says how to reattach when the control process dies mid-session', async () => {
    const saved = shellIn('killed', [HOST]);
    await pane('killed', PROMPT);
    await type('killed', 'echo still-$((1+1))', /^still-2$/m);
    process.kill(controlPid!, 'SIGKILL');
    const text = await pane('killed', /^EXIT:1$/m);
    const sentence =
      /^error: the control process stopped answering mid-session \(.+\); terminal session (\S+) keeps running on the host, back with: flotilla shell (\S+) --attach (\S+)$/m.exec(
        text,
      );
    expect(sentence, text).not.toBeNull();
    expect(text).not.toMatch(/\n\s+at /); // no stack trace
    expect(await sttyAfter(saved)).toBe(await readFile(saved.sttyBefore, 'utf8'));
    // The hint works: the CLI dials itself now and takes the session back.
    shellIn('rescued', [sentence![2]!, '--attach', sentence![1]!]);
    await pane('rescued', PROMPT);
    await type('rescued', 'echo rescued-$((2+2))', /^rescued-4$/m);
    await type('rescued', 'exit', /^EXIT:0$/m);
  });
});
