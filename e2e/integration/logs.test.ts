// logs with a real agent: the last N lines of a file, a follow that streams lines the test appends
// until the CLI gets SIGINT (or --timeout), and refusals: outside the allowed roots, a FIFO, a
// missing file, a unit's journal on a host without systemd.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { cli, killAll, removeDir, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let logs: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let agent: Proc & { id: string };

interface Report {
  ok: number;
  results: { status: string; error: { code: string; message: string } | null; data?: Record<string, unknown>; lines?: string[]; notices?: string[] }[];
}

async function ok(home: string, args: string[]) {
  const result = await cli(home, args);
  if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

const numbered = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join('');

/** Resolves when `child`'s stdout matches `pattern`. */
function stdoutMatches(child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in:\n${text}`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

beforeAll(async () => {
  base = await tempDir('logs');
  admin = join(base, 'admin');
  logs = join(base, 'logs');
  await mkdir(logs);
  signal = await startSignal(join(base, 'signal'));
  await ok(admin, ['init', '--signal', signal.url, '--name', 'test-admin']);
  const token = JSON.parse((await ok(admin, ['token', 'create', '--json'])).stdout).token;
  agent = await startAgent(join(base, 'alpha'), token, ['--tag', 'role=logs', '--allow-root', logs]);
  await ok(admin, ['ping', 'tag:role=logs']);
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

describe('logs through the CLI', () => {
  it('prints the last N lines of a file, prefixed by the host, and the same lines in --json', async () => {
    const file = join(logs, 'app.log');
    await writeFile(file, numbered(1, 500));
    const table = await ok(admin, ['logs', 'tag:role=logs', file, '-n', '5']);
    const printed = [...table.stdout.matchAll(/^(\S+) \| (.*)$/gm)];
    expect(printed.map((m) => m[2])).toEqual(['line 496', 'line 497', 'line 498', 'line 499', 'line 500']);
    expect(new Set(printed.map((m) => m[1])).size).toBe(1);
    expect(table.stdout).toMatch(/ok .*5 lines/);
    const json = await ok(admin, ['logs', 'tag:role=logs', file, '-n', '3', '--json']);
    const result = (JSON.parse(json.stdout) as Report).results[0]!;
    expect(result.lines).toEqual(['line 498', 'line 499', 'line 500']);
    expect(result.data).toMatchObject({ source: file, lines: 3, follow: false, cut: false });
  });

  it('follows a file: lines appended after it started (and after a truncation) stream until SIGINT, which ends it with exit 0', async () => {
    const file = join(logs, 'follow.log');
    await writeFile(file, numbered(1, 10));
    let child: ChildProcess | undefined;
    const running = cli(admin, ['logs', 'tag:role=logs', file, '-n', '2', '-f'], { onStart: (c) => (child = c) });
    await stdoutMatches(child!, /\| line 10\n/);
    await appendFile(file, 'appended one\n');
    await stdoutMatches(child!, /\| appended one\n/);
    await appendFile(file, 'appended two\nappended three\n');
    await stdoutMatches(child!, /\| appended three\n/);
    await writeFile(file, 'after truncation\n');
    await stdoutMatches(child!, /\| after truncation\n/);
    child!.kill('SIGINT');
    const result = await running;
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const lines = [...result.stdout.matchAll(/^\S+ \| (.*)$/gm)].map((m) => m[1]);
    expect(lines).toEqual(['line 9', 'line 10', 'appended one', 'appended two', 'appended three', 'after truncation']);
    // The agent's notice is on the host's stderr stream, marked with '!'.
    expect(result.stdout).toMatch(/^\S+ ! \| flotilla: the file was truncated; following it from its start$/m);
    expect(result.stdout).toMatch(/ok .*2 lines, followed, \d+ bytes in all, truncated 1×/);
    expect(result.stderr).toMatch(/Stopping…/);
  });

  it('ends a follow after --timeout the same way, with exit 0 and the tail in --json', async () => {
    const file = join(logs, 'timed.log');
    await writeFile(file, numbered(1, 3));
    const result = await cli(admin, ['logs', 'tag:role=logs', file, '-f', '--timeout', '2s', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const host = (JSON.parse(result.stdout) as Report).results[0]!;
    expect(host.status).toBe('ok');
    expect(host.lines).toEqual(['line 1', 'line 2', 'line 3']);
    expect(host.data).toMatchObject({ follow: true, lines: 3, droppedBytes: 0 });
  });

  it('refuses a path outside the allowed roots, a FIFO, a missing file and a relative path, each with a sentence', async () => {
    const outside = await cli(admin, ['logs', 'tag:role=logs', '/etc/passwd', '--json']);
    expect(outside.code).toBe(1);
    const refused = (JSON.parse(outside.stdout) as Report).results[0]!;
    expect(refused.error!.code).toBe('path-refused');
    expect(refused.error!.message).toBe(`That path is outside the directories this agent allows. (/etc/passwd is outside ${logs})`);
    expect(refused.lines).toEqual([]);
    const table = await cli(admin, ['logs', 'tag:role=logs', join(base, 'admin', 'fleet.json')]);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/failed .*path-refused: .* is outside /);

    const fifo = join(logs, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const special = await cli(admin, ['logs', 'tag:role=logs', fifo, '--json']);
    expect((JSON.parse(special.stdout) as Report).results[0]!.error!.message).toMatch(/is not a regular file/);

    const missing = await cli(admin, ['logs', 'tag:role=logs', join(logs, 'missing.log'), '--json']);
    const gone = (JSON.parse(missing.stdout) as Report).results[0]!;
    expect(gone.error!.code).toBe('not-found');
    expect(gone.error!.message).toMatch(/no file .*missing\.log on this host/);

    const relative = await cli(admin, ['logs', 'tag:role=logs', 'app.log']);
    expect(relative.code).toBe(2);
    expect(relative.stderr).toMatch(/"app.log" is neither an absolute path on the host nor unit:NAME/);
  });

  it.skipIf(existsSync('/run/systemd/system'))('says a host without systemd has no unit journals', async () => {
    const result = await cli(admin, ['logs', 'tag:role=logs', 'unit:ssh.service', '--json']);
    expect(result.code).toBe(1);
    const host = (JSON.parse(result.stdout) as Report).results[0]!;
    expect(host.error!.code).toBe('unsupported');
    expect(host.error!.message).toMatch(/this host does not run systemd \(no \/run\/systemd\/system\), so it has no unit journals; give a file path instead/);
  });
});
