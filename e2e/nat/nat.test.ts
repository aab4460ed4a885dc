// Reaching an agent behind NAT, across real Linux NAT in network namespaces (topology.ts):
// the signaling server and coturn in a "public" namespace, the agent behind router 1, the
// CLI behind router 2. Each describe block builds its own topology and tears it down, with
// every process it started, in afterAll, also when a test fails. Root only: elsewhere the
// tests report themselves skipped with the reason.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { turnPassword } from '../../signaling/src/turn.ts';
import { createTopology, natUnavailableReason, type NsProc, type Topology, type TopologyOptions } from './topology.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin');
const SIGNAL_PORT = 9000;
const STUN_PORT = 3479; // the signaling server's own STUN; coturn has 3478
const TURN_PORT = 3478;
const REALM = 'flotilla.test';

const unavailable = natUnavailableReason();
if (unavailable) console.warn(`NAT tests skipped: ${unavailable}`);

interface PathInfo { local: string; remote: string; protocol: string; relayed: boolean }

/** One topology with coturn, the signaling server, an admin CLI home (site 2) and an enrolled agent (site 1). */
interface Stack {
  topo: Topology;
  base: string;
  admin: string;
  secret: string;
  coturn: NsProc;
  signal: NsProc;
  agent: NsProc;
  agentId: string;
  cli(args: string[], timeoutMs?: number): Promise<{ code: number | null; stdout: string; output: string }>;
  destroy(): Promise<void>;
}

async function startStack(options: TopologyOptions): Promise<Stack> {
  const base = await mkdtemp(join(tmpdir(), 'flotilla-nat-'));
  const topo = createTopology(options);
  const destroy = async () => {
    await topo.destroy();
    await rm(base, { recursive: true, force: true });
  };
  try {
    const { pub } = topo.addr;
    const secret = randomBytes(24).toString('hex');
    const secretFile = join(base, 'turn-secret');
    await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
    const coturn = topo.start(topo.ns.pub, 'turnserver', [
      '-n', '-v', '--use-auth-secret', `--static-auth-secret=${secret}`, `--realm=${REALM}`,
      `--listening-ip=${pub}`, `--relay-ip=${pub}`, `--listening-port=${TURN_PORT}`, '--min-port=50000', '--max-port=50999',
      '--no-cli', '--no-tls', '--no-dtls', '--fingerprint', '--log-file=stdout', `--pidfile=${join(base, 'turnserver.pid')}`, `--userdb=${join(base, 'turndb')}`,
      // As docs/operations.md advises: never relay into private networks (coturn would otherwise
      // forward to a peer's private host candidate, which it cannot reach from here, and drop the
      // whole allocation on the send error). 203.0.113.0/24 is the test's "public" network.
      '--denied-peer-ip=10.0.0.0-10.255.255.255', '--denied-peer-ip=172.16.0.0-172.31.255.255', '--denied-peer-ip=192.168.0.0-192.168.255.255',
      '--allowed-peer-ip=203.0.113.0-203.0.113.255',
    ]);
    const signal = topo.start(topo.ns.pub, process.execPath, [
      join(BIN, 'flotilla-signal.js'), '--host', pub, '--port', String(SIGNAL_PORT), '--stun-port', String(STUN_PORT),
      '--data-dir', join(base, 'signal'), '--turn-secret-file', secretFile,
      '--turn-url', `turn:${pub}:${TURN_PORT}?transport=udp`, '--turn-url', `turn:${pub}:${TURN_PORT}?transport=tcp`, '--turn-ttl', '600',
    ]);
    await Promise.all([signal.waitFor(/signal\.listening/), coturn.waitFor(/TCP listener opened on : 203\.0\.113\.1:3478/), coturn.waitFor(/UDP listener opened on: 203\.0\.113\.1:3478/)]);

    const admin = join(base, 'admin');
    const cli: Stack['cli'] = (args, timeoutMs = 90_000) =>
      topo.run(topo.ns.s2, process.execPath, [join(BIN, 'flotilla.js'), ...args], { env: { FLOTILLA_HOME: admin, NO_COLOR: '1' }, timeoutMs });
    const ok = async (args: string[]) => {
      const result = await cli(args);
      if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.output}`);
      return result;
    };
    await ok(['init', '--signal', `http://${pub}:${SIGNAL_PORT}/`, '--name', 'nat-admin']);
    const token = (JSON.parse((await ok(['token', 'create', '--json'])).stdout) as { token: string }).token;
    const agent = topo.start(topo.ns.s1, process.execPath, [join(BIN, 'flotilla-agent.js'), 'join', token, '--state-dir', join(base, 'agent'), '--allow-root', base, '--tag', 'site=one']);
    const agentId = (await agent.waitFor(/Enrolled as ([a-z2-7]{52})/))[1]!;
    await agent.waitFor(/"event":"signaling-open"|"event":"agent-started"/);
    return { topo, base, admin, secret, coturn, signal, agent, agentId, cli, destroy };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** Waits until `hosts --json` shows the agent accepted and online (the first handshake proves the token). */
async function waitOnline(stack: Stack): Promise<void> {
  const deadline = Date.now() + 90_000;
  let last = '';
  for (;;) {
    const result = await stack.cli(['hosts', '--json']);
    last = result.output;
    if (result.code === 0) {
      const hosts = JSON.parse(result.stdout) as { id: string; status: string }[];
      if (hosts.some((h) => h.id === stack.agentId && h.status === 'online')) return;
    }
    if (Date.now() > deadline) throw new Error(`agent never accepted and online:\n${last}\nagent:\n${stack.agent.output().slice(-3000)}\ncoturn:\n${stack.coturn.output().slice(-6000)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** `ping --json` for the agent: its status and connection path. */
async function ping(stack: Stack): Promise<{ status: string; path: PathInfo | null }> {
  const result = await stack.cli(['ping', 'tag:site=one', '--json']);
  const rows = JSON.parse(result.stdout || '[]') as { hostId: string; status: string; data?: { path?: PathInfo | null } }[];
  const row = rows.find((r) => r.hostId === stack.agentId);
  if (!row) throw new Error(`no ping row for the agent:\n${result.output}`);
  if (row.status !== 'ok') throw new Error(`ping ${row.status}:\n${result.output}\nagent:\n${stack.agent.output().slice(-3000)}`);
  return { status: row.status, path: row.data?.path ?? null };
}

/** `run` and `push` through whatever path ICE chose; checks output and the file's bytes. */
async function runAndPush(stack: Stack): Promise<void> {
  const marker = `nat-${randomBytes(4).toString('hex')}`;
  const run = await stack.cli(['run', 'tag:site=one', '--json', '--', `echo ${marker}; ip -4 -o addr show dev eth0`]);
  expect(run.code, run.output).toBe(0);
  expect(run.stdout).toContain(marker);
  expect(run.stdout).toContain(stack.topo.addr.s1); // it really ran in site 1
  const payload = randomBytes(300_000);
  const local = join(stack.base, 'payload.bin');
  const remote = join(stack.base, 'pushed', 'payload.bin');
  await writeFile(local, payload);
  const push = await stack.cli(['push', 'tag:site=one', local, remote, '--mode', '0640']);
  expect(push.code, push.output).toBe(0);
  expect((await readFile(remote)).equals(payload)).toBe(true);
  expect((await stat(remote)).mode & 0o777).toBe(0o640);
}

function turnLog(stack: Stack): string {
  return stack.coturn.output();
}

describe.skipIf(unavailable !== undefined)(`NAT${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  describe('endpoint-independent NAT (MASQUERADE) on both sides', () => {
    let stack: Stack | undefined;
    beforeAll(async () => {
      stack = await startStack({ nat1: 'masquerade', nat2: 'masquerade' });
      await waitOnline(stack);
    }, 180_000);
    afterAll(async () => {
      await stack?.destroy();
    }, 60_000);

    it('connects directly (not relayed), then runs a command and pushes a file', async () => {
      const s = stack!;
      const { path } = await ping(s);
      expect(path).toMatchObject({ relayed: false, protocol: 'udp' });
      expect(['srflx', 'prflx']).toContain(path?.remote); // the agent's NAT mapping, never its private address
      await runAndPush(s);
    });

    it('hands TURN only with valid credentials: forged or expired ones are refused by coturn', async () => {
      const s = stack!;
      const probe = async (username: string, password: string) => {
        const result = await s.topo.run(s.topo.ns.s1, process.execPath, [join(import.meta.dirname, 'turn-probe.mjs'), s.topo.addr.pub, String(TURN_PORT), username, password], { timeoutMs: 30_000 });
        return JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as { outcome: string; code?: number; relayed?: string };
      };
      const future = Math.floor(Date.now() / 1000) + 600;
      const valid = `${future}:${s.agentId}`;
      // Control: the scheme the signaling server uses is what coturn accepts.
      expect(await probe(valid, await turnPassword(s.secret, valid))).toMatchObject({ outcome: 'allocated', relayed: expect.stringMatching(/^203\.0\.113\.1:\d+$/) });
      // Forged: the right shape, an HMAC under another secret.
      expect(await probe(valid, await turnPassword(randomBytes(24).toString('hex'), valid))).toMatchObject({ outcome: 'error', code: 401 });
      // Expired: a correct HMAC for an expiry in the past.
      const expired = `${Math.floor(Date.now() / 1000) - 60}:${s.agentId}`;
      expect(await probe(expired, await turnPassword(s.secret, expired))).toMatchObject({ outcome: 'error', code: 401 });
      // Tampered: someone else's valid password with a later expiry.
      const later = `${future + 86_400}:${s.agentId}`;
      expect(await probe(later, await turnPassword(s.secret, valid))).toMatchObject({ outcome: 'error', code: 401 });
    });
  });

  describe('symmetric-like NAT (MASQUERADE --random-fully) on both sides', () => {
    let stack: Stack | undefined;
    beforeAll(async () => {
      stack = await startStack({ nat1: 'random-fully', nat2: 'random-fully' });
      await waitOnline(stack);
    }, 180_000);
    afterAll(async () => {
      await stack?.destroy();
    }, 60_000);

    it('connects through TURN (the pair is relayed), then runs a command and pushes a file', async () => {
      const s = stack!;
      const { path } = await ping(s);
      expect(path).toMatchObject({ relayed: true });
      expect(turnLog(s)).toMatch(/incoming packet ALLOCATE processed, success/);
      expect(turnLog(s)).toMatch(/incoming packet CHANNEL_BIND processed, success/);
      await runAndPush(s);
    });
  });

  describe("UDP blocked at the CLI's site", () => {
    let stack: Stack | undefined;
    beforeAll(async () => {
      stack = await startStack({ nat1: 'masquerade', nat2: 'masquerade', blockUdp2: true });
      await waitOnline(stack);
    }, 180_000);
    afterAll(async () => {
      await stack?.destroy();
    }, 60_000);

    it('connects through TURN over TCP, then runs a command and pushes a file', async () => {
      const s = stack!;
      const { path } = await ping(s);
      expect(path).toMatchObject({ relayed: true, local: 'relay', protocol: 'tcp' });
      await runAndPush(s);
    });
  });
});
