// `npm start` (scripts/dev.mjs) as a user runs it, on a free loopback port with its own dev
// directory: the banner comes once the local agent is online, the printed `flotilla` works, and
// an agent killed with SIGKILL is restarted while the signaling server keeps serving.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, freePort, removeDir, tempDir, watchOutput } from '../harness.ts';

let dev: string;
let port: number;
let child: ChildProcess;
let watched: ReturnType<typeof watchOutput>;

/** Runs the `flotilla` the banner puts on PATH, with the banner's FLOTILLA_HOME. */
function flotilla(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      join(dev, 'bin', 'flotilla'),
      args,
      { env: { ...process.env, FLOTILLA_HOME: join(dev, 'home'), FLOTILLA_PERSIST: '', NO_COLOR: '1' }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${watched.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  dev = await tempDir('dev');
  port = await freePort();
  // Its own process group, so that the whole stack is killed at the end whatever happens.
  child = spawn(process.execPath, ['scripts/dev.mjs'], {
    cwd: ROOT,
    env: { ...process.env, FLOTILLA_PORT: String(port), FLOTILLA_HOST: '127.0.0.1', FLOTILLA_DEV_DIR: dev, FLOTILLA_PERSIST: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  watched = watchOutput(child, 'npm start');
  await watched.waitFor(/Try, in another terminal/, 120_000);
}, 150_000);

afterAll(async () => {
  if (child?.pid) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await removeDir(dev);
});

describe('npm start', () => {
  it('prints the banner once the local agent is online and accepted, with commands that work', async () => {
    const id = watched.output().match(/Enrolled as ([a-z2-7]{52})/)![1]!;
    const banner = watched.output().slice(watched.output().indexOf('Flotilla is running'));
    expect(banner).not.toContain('No hosts yet');
    expect(banner).toMatch(new RegExp(`${id.slice(0, 8)}\\s+\\S+\\s+online`));
    expect(banner).toContain(`export FLOTILLA_HOME=${join(dev, 'home')} PATH=${join(dev, 'bin')}:$PATH`);
    expect(banner).not.toContain('npx flotilla');
    const run = await flotilla(['run', '*', '--', 'echo', 'from-dev']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('from-dev');
  });

  it('restarts an agent killed with SIGKILL, and the signaling server keeps serving', async () => {
    const id = watched.output().match(/Enrolled as ([a-z2-7]{52})/)![1]!;
    const signalPid = Number(watched.output().match(/\[dev\] signal started \(pid (\d+)\)/)![1]);
    const agentPid = Number(watched.output().match(/\[dev\] agent started \(pid (\d+)\)/)![1]);
    process.kill(agentPid, 'SIGKILL');
    const restarted = await watched.waitFor(/agent exited \(SIGKILL\); restarting it in [\d.]+s[^]*\[dev\] agent started \(pid (\d+)\)/, 60_000);
    const newPid = Number(restarted[1]);
    expect(newPid).not.toBe(agentPid);
    expect(alive(newPid)).toBe(true);
    // Back online: listed so, and it runs a command again.
    await until('the restarted agent to answer', async () => {
      const hosts = await flotilla(['hosts', '--json']);
      const listed = hosts.code === 0 && (JSON.parse(hosts.stdout) as { id: string; status: string }[]).some((h) => h.id === id && h.status === 'online');
      if (!listed) return undefined;
      const run = await flotilla(['run', id, '--', 'echo', 'back']);
      return run.code === 0 && run.stdout.includes('back') ? true : undefined;
    });
    expect(alive(signalPid)).toBe(true);
    expect(alive(child.pid!)).toBe(true);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(await fetch(`http://127.0.0.1:${port}/`).then((r) => r.status)).toBe(200); // the PWA
  }, 120_000);
});
