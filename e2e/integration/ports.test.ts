// ports with a real agent: a listener the test starts shows up with its pid and program.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cli, freePort, killAll, procOf, removeDir, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let agent: Proc & { id: string };
/** Control processes this file started (warm mode), killed at the end if still there. */
const controlPids = new Set<number>();

async function ok(args: string[]) {
  const result = await cli(admin, args);
  if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

beforeAll(async () => {
  base = await tempDir('ports');
  admin = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  await ok(['init', '--signal', signal.url, '--name', 'test-admin']);
  const token = JSON.parse((await ok(['token', 'create', '--json'])).stdout).token;
  agent = await startAgent(join(base, 'agent'), token);
}, 120_000);

afterAll(async () => {
  await cli(admin, ['connect', '--stop']).catch(() => undefined);
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

interface Socket {
  protocol: string;
  address: string;
  port: number;
  pid: number | null;
  program: string | null;
}

describe('flotilla ports', () => {
  it('shows TCP listeners the test opened (IPv4 and IPv6), with their pid and program, in --json and in the table', async () => {
    const port = await freePort();
    const script = `const net = require('net'); net.createServer().listen(${port}, '127.0.0.1', () => net.createServer().listen(${port}, '::1', () => console.log('listening')))`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const listener = procOf(child, 'the test listener');
    try {
      await listener.waitFor(/listening/);
      const result = await ok(['ports', '*', '--json']);
      const report = JSON.parse(result.stdout) as { ok: number; results: { id: string; status: string; data: { sockets: Socket[] } }[] };
      expect(report.ok).toBe(1);
      const sockets = report.results[0]!.data.sockets;
      expect(sockets).toContainEqual(expect.objectContaining({ protocol: 'tcp', address: '127.0.0.1', port, pid: child.pid, program: 'node' }));
      expect(sockets).toContainEqual(expect.objectContaining({ protocol: 'tcp6', address: '::1', port, pid: child.pid, program: 'node' }));
      // The signaling server's STUN port is a UDP listener of another process.
      expect(sockets).toContainEqual(expect.objectContaining({ protocol: 'udp', port: signal.port, pid: signal.child.pid }));

      const table = await ok(['ports', '*']);
      expect(table.stdout).toMatch(new RegExp(`^tcp\\s+127\\.0\\.0\\.1\\s+${port}\\s+${child.pid}\\s+node$`, 'm'));
      expect(table.stdout).toMatch(/PROTO\s+ADDRESS\s+PORT\s+PID\s+PROGRAM/);
    } finally {
      await listener.stop();
    }
    // Gone once the listener exits.
    const after = JSON.parse((await ok(['ports', '*', '--json'])).stdout) as { results: { data: { sockets: Socket[] } }[] };
    expect(after.results[0]!.data.sockets.some((s) => s.port === port && s.protocol === 'tcp')).toBe(false);
  });

  it('is served by a control process (warm mode) with the same answer', async () => {
    await ok(['connect', '--persist', '60s']);
    const status = async () => {
      const parsed = JSON.parse((await ok(['connect', '--status', '--json'])).stdout) as { pid: number; requests: number };
      controlPids.add(parsed.pid);
      return parsed;
    };
    try {
      const before = await status();
      const report = JSON.parse((await ok(['ports', '*', '--json'])).stdout) as { ok: number; results: { data: { sockets: Socket[] } }[] };
      expect(report.ok).toBe(1);
      expect(report.results[0]!.data.sockets).toContainEqual(expect.objectContaining({ protocol: 'udp', port: signal.port, pid: signal.child.pid }));
      const after = await status();
      expect(after.pid).toBe(before.pid);
      expect(after.requests - before.requests).toBe(1);
    } finally {
      await cli(admin, ['connect', '--stop']);
    }
  });
});
