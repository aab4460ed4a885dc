// hosts-file with real agents, each in its own mount namespace, never the machine's /etc/hosts:
// one with a temp file bind-mounted over /etc/hosts (as Docker does: rename cannot replace a
// mount point, so the file is rewritten in place), one with an overlay over /etc whose upper
// layer holds a temp hosts file (the atomic path: temp file, fsync, rename).

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, killAll, procOf, removeDir, ROOT, startSignal, tempDir, type Proc } from '../harness.ts';

const INITIAL = '# test hosts file\n127.0.0.1\tlocalhost\n10.0.0.4  db db.internal  # primary\n\n';

let base: string;
let admin: string;
let viewer: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let machineHosts: string;
const agents: Proc[] = [];
let bindFile: string;
let bindState: string;
let upperDir: string;

async function ok(home: string, args: string[]) {
  const result = await cli(home, args);
  if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
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

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Starts an agent in a new mount namespace after `mount` (shell) has run there. */
async function startAgentIn(mount: string, stateDir: string, token: string, tag: string): Promise<Proc> {
  const agentArgs = [join(ROOT, 'bin', 'flotilla-agent.js'), 'join', token, '--state-dir', stateDir, '--tag', `hf=${tag}`].map(quote).join(' ');
  const child = spawn('unshare', ['-m', 'sh', '-c', `mount --make-rprivate / && ${mount} && exec ${quote(process.execPath)} ${agentArgs}`], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = procOf(child, `agent ${tag}`);
  agents.push(proc);
  await proc.waitFor(/Enrolled as ([a-z2-7]{52})/);
  await proc.waitFor(/"event":"signaling-open"/);
  return proc;
}

interface Line {
  line: number;
  text: string;
  address?: string;
  names?: string[];
  comment?: string;
}
interface Report {
  ok: number;
  results: {
    status: string;
    error: { code: string; message: string } | null;
    data?: { path: string; lines: Line[]; undo: boolean; change?: string; written?: string };
  }[];
}

async function hostsFile(home: string, tag: string, ...options: string[]): Promise<{ code: number | null; report: Report; stderr: string }> {
  const result = await cli(home, ['hosts-file', `tag:hf=${tag}`, '--json', ...options]);
  return { code: result.code, report: JSON.parse(result.stdout) as Report, stderr: result.stderr };
}

beforeAll(async () => {
  machineHosts = await readFile('/etc/hosts', 'utf8');
  base = await tempDir('hosts-file');
  admin = join(base, 'admin');
  viewer = join(base, 'viewer');
  signal = await startSignal(join(base, 'signal'));
  await ok(admin, ['init', '--signal', signal.url, '--name', 'test-admin']);
  const token = JSON.parse((await ok(admin, ['token', 'create', '--uses', '2', '--json'])).stdout).token;

  bindFile = join(base, 'bind', 'hosts');
  await mkdir(join(base, 'bind'));
  await writeFile(bindFile, INITIAL, { mode: 0o644 });
  bindState = join(base, 'agent-bind');
  await startAgentIn(`mount --bind ${quote(bindFile)} /etc/hosts`, bindState, token, 'bind');

  upperDir = join(base, 'overlay', 'upper');
  const workDir = join(base, 'overlay', 'work');
  await mkdir(upperDir, { recursive: true });
  await mkdir(workDir);
  await writeFile(join(upperDir, 'hosts'), INITIAL);
  await chmod(join(upperDir, 'hosts'), 0o640);
  await startAgentIn(
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${quote(upperDir)},workdir=${quote(workDir)} /etc`,
    join(base, 'agent-overlay'),
    token,
    'overlay',
  );

  // First contact accepts both (they proved the token); the viewer copies the admin's host list.
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
  await Promise.all(agents.map((a) => a.stop()));
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

describe('flotilla hosts-file', () => {
  it('reads the file: entries parsed, comments and blank lines kept, a table per host', async () => {
    const { code, report } = await hostsFile(admin, 'bind');
    expect(code).toBe(0);
    const data = report.results[0]!.data!;
    expect(data.path).toBe('/etc/hosts');
    expect(data.undo).toBe(false);
    expect(data.lines).toEqual([
      { line: 1, text: '# test hosts file' },
      { line: 2, text: '127.0.0.1\tlocalhost', address: '127.0.0.1', names: ['localhost'] },
      { line: 3, text: '10.0.0.4  db db.internal  # primary', address: '10.0.0.4', names: ['db', 'db.internal'], comment: 'primary' },
      { line: 4, text: '' },
    ]);
    const table = await ok(admin, ['hosts-file', 'tag:hf=bind']);
    expect(table.stdout).toMatch(/LINE\s+ADDRESS\s+NAMES\s+COMMENT/);
    expect(table.stdout).toMatch(/^3\s+10\.0\.0\.4\s+db db\.internal\s+primary$/m);
  });

  it('adds, changes, removes and undoes on the bind-mounted file, each change in the audit log', async () => {
    const added = await hostsFile(admin, 'bind', '--add', '10.0.0.5 web web.internal');
    expect(added.code).toBe(0);
    expect(added.report.results[0]!.data!.change).toBe('added 10.0.0.5 web web.internal');
    // A mount point cannot be renamed over: written in place.
    expect(added.report.results[0]!.data!.written).toBe('in-place');
    expect(await readFile(bindFile, 'utf8')).toBe(INITIAL + '10.0.0.5\tweb web.internal\n');

    const changed = await hostsFile(admin, 'bind', '--add', '10.0.0.6 web');
    expect(changed.report.results[0]!.data!.change).toBe('added 10.0.0.6 web (replacing 10.0.0.5 web)');
    expect(await readFile(bindFile, 'utf8')).toBe(INITIAL + '10.0.0.6\tweb\n10.0.0.5\tweb.internal\n');

    const removed = await hostsFile(admin, 'bind', '--remove', 'web.internal');
    expect(removed.report.results[0]!.data!.change).toBe('removed 10.0.0.5 web.internal');
    expect(await readFile(bindFile, 'utf8')).toBe(INITIAL + '10.0.0.6\tweb\n');

    const undone = await hostsFile(admin, 'bind', '--undo');
    expect(undone.code).toBe(0);
    expect(undone.report.results[0]!.data!.change).toBe('undid "removed 10.0.0.5 web.internal"');
    expect(await readFile(bindFile, 'utf8')).toBe(INITIAL + '10.0.0.6\tweb\n10.0.0.5\tweb.internal\n');
    // One undo only.
    const again = await hostsFile(admin, 'bind', '--undo');
    expect(again.code).toBe(1);
    expect(again.report.results[0]!.error!.message).toMatch(/nothing to undo/);
    expect(await readFile(bindFile, 'utf8')).toBe(INITIAL + '10.0.0.6\tweb\n10.0.0.5\tweb.internal\n');

    const audit = await readFile(join(bindState, 'audit.log'), 'utf8');
    for (const detail of ['add 10.0.0.5 web web.internal', 'add 10.0.0.6 web', 'remove web.internal', 'undo']) {
      expect(audit).toContain(`"request":"hosts-file","outcome":"accepted","detail":"${detail}"`);
    }
  });

  it('refuses an invalid address or name with one sentence, before any host is asked', async () => {
    const before = await readFile(bindFile, 'utf8');
    const bad = await cli(admin, ['hosts-file', 'tag:hf=bind', '--add', '10.0.0.999 api']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('usage error: --add "10.0.0.999 api": "10.0.0.999" is not a valid IPv4 or IPv6 address');
    const badName = await cli(admin, ['hosts-file', 'tag:hf=bind', '--add', '10.0.0.9 bad_name']);
    expect(badName.stderr).toMatch(/"bad_name" is not a valid host name/);
    const twoAtOnce = await cli(admin, ['hosts-file', 'tag:hf=bind', '--remove', 'web', '--undo']);
    expect(twoAtOnce.stderr).toMatch(/give one of them/);
    const missing = await hostsFile(admin, 'bind', '--remove', 'nothere');
    expect(missing.code).toBe(1);
    expect(missing.report.results[0]!.error!.message).toMatch(/no entry in the hosts file names "nothere"/);
    expect(await readFile(bindFile, 'utf8')).toBe(before);
  });

  it('lets a viewer read and refuses a viewer changing it', async () => {
    const before = await readFile(bindFile, 'utf8');
    const read = await hostsFile(viewer, 'bind');
    expect(read.code).toBe(0);
    expect(read.report.results[0]!.data!.lines.some((l) => l.address === '10.0.0.6')).toBe(true);
    for (const options of [['--add', '10.9.9.9 evil'], ['--remove', 'db'], ['--undo']]) {
      const refused = await hostsFile(viewer, 'bind', ...options);
      expect(refused.code).toBe(1);
      expect(refused.report.results[0]!.error!.code).toBe('forbidden');
    }
    expect(await readFile(bindFile, 'utf8')).toBe(before);
    expect(await readFile(join(bindState, 'audit.log'), 'utf8')).toMatch(
      /"deviceName":"viewer-phone".*"request":"hosts-file".*"outcome":"refused".*"code":"forbidden"/,
    );
  });

  it('writes atomically where it can: a new file renamed over the old, its mode kept, no temp file left', async () => {
    const path = join(upperDir, 'hosts');
    const inode = (await stat(path)).ino;
    const added = await hostsFile(admin, 'overlay', '--add', 'fd00::5 api');
    expect(added.code, JSON.stringify(added.report)).toBe(0);
    expect(added.report.results[0]!.data!.written).toBe('atomic');
    expect(await readFile(path, 'utf8')).toBe(INITIAL + 'fd00::5\tapi\n');
    const after = await stat(path);
    expect(after.ino).not.toBe(inode);
    expect(after.mode & 0o7777).toBe(0o640);
    expect((await readdir(upperDir)).filter((n) => n.includes('flotilla'))).toEqual([]);
  });

  it('refuses an undo that would discard a change made since by someone else', async () => {
    const path = join(upperDir, 'hosts');
    const edited = (await readFile(path, 'utf8')) + '10.1.1.1\thand-edited\n';
    await writeFile(path, edited);
    const undo = await hostsFile(admin, 'overlay', '--undo');
    expect(undo.code).toBe(1);
    expect(undo.report.results[0]!.error!.message).toMatch(/has been changed since "added fd00::5 api"; undo would discard that change/);
    expect(await readFile(path, 'utf8')).toBe(edited);
  });

  it('takes a change through a control process (warm mode)', async () => {
    await ok(admin, ['connect', '--persist', '60s']);
    try {
      const before = await controlStatus(admin);
      const added = await hostsFile(admin, 'bind', '--add', '10.0.0.77 warm-host');
      expect(added.code).toBe(0);
      expect(added.report.results[0]!.data!.change).toBe('added 10.0.0.77 warm-host');
      expect(await readFile(bindFile, 'utf8')).toMatch(/^10\.0\.0\.77\twarm-host$/m);
      const undone = await hostsFile(admin, 'bind', '--undo');
      expect(undone.code).toBe(0);
      expect(await readFile(bindFile, 'utf8')).not.toContain('warm-host');
      const after = await controlStatus(admin);
      expect(after.pid).toBe(before.pid);
      expect(after.requests - before.requests).toBe(2);
    } finally {
      await stopControl(admin);
    }
  });

  it("never touched the machine's own /etc/hosts", async () => {
    expect(await readFile('/etc/hosts', 'utf8')).toBe(machineHosts);
    expect((await readdir('/etc')).filter((n) => n.includes('flotilla'))).toEqual([]);
  });
});
