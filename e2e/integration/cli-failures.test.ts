// The CLI when things go wrong, with real processes: a signaling server that stops (the CLI
// says so with the URL and exits, `hosts` shows the cached inventory marked stale), an agent
// that stops answering (`run --timeout` ends and reports it), errors as JSON with --json,
// usage errors worded as such, and failures that must leave nothing behind (a failed fetch's
// folder, a malformed join token's identity file, a token with no lifetime).

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { cli as harnessCli, killAll, removeDir, startAgent, startProc, startSignal, tempDir, type CliResult, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let agent: Proc & { id: string };

/** `flotilla args…` as the admin, killed (and the test failed) if it runs past `timeoutMs`. */
function cli(args: string[], timeoutMs = 30_000): Promise<CliResult> {
  return harnessCli(admin, args, { timeoutMs, env: { FLOTILLA_PERSIST: '' } });
}

async function ok(args: string[]): Promise<CliResult> {
  const result = await cli(args);
  if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** The exit code of a started process, once it exits. */
async function exitOf(proc: Proc): Promise<number | null> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) await once(proc.child, 'exit');
  return proc.child.exitCode;
}

beforeAll(async () => {
  base = await tempDir('cli-failures');
  admin = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  await ok(['init', '--signal', signal.url, '--name', 'failures-admin']);
  const token = JSON.parse((await ok(['token', 'create', '--json'])).stdout).token as string;
  agent = await startAgent(join(base, 'agent'), token, ['--tag', 'role=probe', '--allow-root', base]);
  for (let i = 0; ; i++) {
    const list = JSON.parse((await ok(['hosts', '--json'])).stdout) as { id: string; status: string }[];
    if (list.some((h) => h.id === agent.id && h.status === 'online')) break;
    if (i > 60) throw new Error('the agent did not come online');
    await new Promise((r) => setTimeout(r, 500));
  }
}, 120_000);

afterAll(async () => {
  if (agent?.child.pid) process.kill(agent.child.pid, 'SIGCONT');
  await agent?.stop();
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

describe('usage errors', () => {
  it('a remote command typed without -- gets a usage error with the corrected command, balanced quotes', async () => {
    const result = await cli(['run', 'web-1', 'ls', '-la']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      'usage error: "-l" is not a flotilla option; the command for the hosts goes after --, as in: flotilla run web-1 -- ls -la',
    );
    expect(result.stderr).not.toContain('configuration is invalid');
  });

  it('other command-line mistakes are usage errors, not "The configuration is invalid."', async () => {
    for (const args of [
      ['run', 'web-1'],
      ['frobnicate'],
      ['ping', '*', '--forks', '0'],
      ['hosts', '--bogus'],
      ['run', '*', '--timeout', 'soon', '--', 'true'],
    ]) {
      const result = await cli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(/^usage error: /);
      expect(result.stderr, args.join(' ')).not.toContain('configuration is invalid');
    }
    expect((await cli(['run', 'web-1'])).stderr).toContain('as in: flotilla run web-1 -- uname -a');
  });

  it('with --json a usage error is JSON on stdout, exit status 2', async () => {
    const result = await cli(['run', 'web-1', '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual({ error: { code: 'usage', message: expect.stringContaining('flotilla run web-1 -- uname -a') } });
  });

  it('token create --ttl 0 is refused and stores no token', async () => {
    const before = await readFile(join(admin, 'tokens.json'), 'utf8');
    const result = await cli(['token', 'create', '--ttl', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^usage error: --ttl 0 would make a token that has already expired/);
    expect(await readFile(join(admin, 'tokens.json'), 'utf8')).toBe(before);
  });
});

describe('failures leave nothing behind', () => {
  it('a fetch that fails leaves no per-host folder (nor the folder it would have made)', async () => {
    const into = join(base, 'fetched', 'here');
    const result = await cli(['fetch', '*', join(base, 'no-such-file'), into]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('failed');
    expect(existsSync(join(base, 'fetched'))).toBe(false);
  });

  it('a fetch that succeeds keeps its folder and file', async () => {
    const into = join(base, 'fetched-ok');
    await ok(['fetch', '*', join(admin, 'device.json'), into]);
    const [folder, ...others] = await readdir(into);
    expect(others).toEqual([]);
    expect(await readdir(join(into, folder!))).toEqual(['device.json']);
  });

  it('a malformed join token writes no identity file', async () => {
    const stateDir = join(base, 'malformed-agent');
    for (const token of ['flt1.bm90IGEgdG9rZW4', 'flt1.!!!', 'garbage']) {
      const proc = startProc('flotilla-agent', ['join', token, '--state-dir', stateDir, '--no-start']);
      expect(await exitOf(proc)).toBe(2);
      expect(proc.output()).toMatch(/join token/);
      expect(existsSync(join(stateDir, 'identity.json'))).toBe(false);
    }
  });
});

describe('an agent that stops answering', () => {
  it('run --timeout ends by the timeout plus its grace and reports the host as not answering', async () => {
    const pid = agent.child.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      // A fresh process dials the frozen agent: no answer ever comes.
      const result = await cli(['run', agent.id, '--timeout', '1s', '--json', '--', 'echo', 'hi'], 20_000);
      expect(result.code).toBe(1);
      const body = JSON.parse(result.stdout) as { results: { id: string; status: string; error: { code: string; detail: string } }[] };
      expect(body.results).toEqual([
        expect.objectContaining({
          id: agent.id,
          status: 'timeout',
          error: expect.objectContaining({ code: 'timeout', detail: expect.stringContaining('no answer within --timeout 1s') }),
        }),
      ]);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }, 30_000);
});

describe('a stopped signaling server', () => {
  beforeAll(async () => {
    await signal.stop();
  });

  // Each invocation is killed, and the test failed, if it runs 10 s.
  for (const args of [
    ['run', '*', '--', 'true'],
    ['ping', '*'],
    ['ping', '*', '--timeout', '5s'],
  ]) {
    it(`flotilla ${args.join(' ')} says so with the URL and exits 1`, async () => {
      const result = await cli(args, 10_000);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: The signaling server could not be reached/)]);
      expect(result.stderr).toContain(signal.url);
    }, 15_000);
  }

  it('with --json the error is JSON on stdout', async () => {
    const result = await cli(['ping', '*', '--json'], 10_000);
    expect(result.code).toBe(1);
    const body = JSON.parse(result.stdout) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('signaling-failed');
    expect(body.error.message).toContain(signal.url);
  }, 15_000);

  it('hosts prints the cached inventory marked stale, exit 1', async () => {
    const result = await cli(['hosts'], 10_000);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(agent.id.slice(0, 8));
    expect(result.stdout).toMatch(/unknown/);
    expect(result.stderr).toContain(signal.url);
    expect(result.stderr).toMatch(/cached in .*hosts\.json, last refreshed \d+s ago/);
  }, 15_000);

  it('hosts --json marks each cached host stale: true', async () => {
    const result = await cli(['hosts', '--json'], 10_000);
    expect(result.code).toBe(1);
    const list = JSON.parse(result.stdout) as { id: string; stale: boolean; refreshedAt: number }[];
    expect(list).toEqual([expect.objectContaining({ id: agent.id, stale: true, refreshedAt: expect.any(Number) })]);
  }, 15_000);
});
