// One NAT test stack (shared by the CLI and the browser NAT tests): a topology from
// topology.ts with coturn and the signaling server in the public namespace, an admin CLI home
// used from site 2, and an agent enrolled from site 1; helpers to wait for it, ping it and
// run work on it through whatever path ICE chose.

import { expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../browser/browser-harness.ts';
import { createTopology, type NsProc, type Topology, type TopologyOptions } from './topology.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin');
export const SIGNAL_PORT = 9000;
const STUN_PORT = 3479; // the signaling server's own STUN; coturn has 3478
export const TURN_PORT = 3478;
export const TURNS_PORT = 5349;
const REALM = 'flotilla.test';

export interface PathInfo {
  local: string;
  remote: string;
  protocol: string;
  relayed: boolean;
}

/** One topology with coturn, the signaling server, an admin CLI home (site 2) and an enrolled agent (site 1). */
export interface Stack {
  topo: Topology;
  base: string;
  admin: string;
  secret: string;
  coturn: NsProc;
  signal: NsProc;
  /** Stops the signaling server, waits `downMs`, starts it again on the same data. */
  restartSignal(downMs: number): Promise<void>;
  agent: NsProc;
  agentId: string;
  cli(args: string[], timeoutMs?: number): Promise<{ code: number | null; stdout: string; output: string }>;
  destroy(): Promise<void>;
}

/** What a stack adds to its topology: TURN over TLS only (a test CA the peers trust). */
export interface StackOptions extends TopologyOptions {
  turnTls?: boolean;
}

/** A CA and a server certificate for 203.0.113.1 (coturn's TLS listener), made with openssl. */
async function makeTurnCertificate(dir: string, ip: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (name: string) => join(dir, name);
  const openssl = (args: string[]) => {
    const result = spawnSync('openssl', args, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
  };
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Flotilla NAT test CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  ]);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${ip}`, '-keyout', f('turn.key'), '-out', f('turn.csr')]);
  await writeFile(f('turn.ext'), `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\n`);
  openssl([
    'x509',
    '-req',
    '-in',
    f('turn.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('turn.ext'),
    '-out',
    f('turn.pem'),
  ]);
  return { ca: f('ca.pem'), cert: f('turn.pem'), key: f('turn.key') };
}

export async function startStack(options: StackOptions): Promise<Stack> {
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
    const tls = options.turnTls ? await makeTurnCertificate(base, pub) : undefined;
    // Peers trust the test CA the way an operator's private CA would be trusted.
    const peerEnv: Record<string, string> = tls ? { NODE_EXTRA_CA_CERTS: tls.ca } : {};
    const coturn = topo.start(topo.ns.pub, 'turnserver', [
      '-n',
      '-v',
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      `--realm=${REALM}`,
      `--listening-ip=${pub}`,
      `--relay-ip=${pub}`,
      `--listening-port=${TURN_PORT}`,
      '--min-port=50000',
      '--max-port=50999',
      '--no-cli',
      '--no-dtls',
      '--fingerprint',
      '--log-file=stdout',
      `--pidfile=${join(base, 'turnserver.pid')}`,
      `--userdb=${join(base, 'turndb')}`,
      ...(tls ? [`--tls-listening-port=${TURNS_PORT}`, `--cert=${tls.cert}`, `--pkey=${tls.key}`] : ['--no-tls']),
      // As docs/operations.md advises: never relay into private networks (coturn would otherwise
      // forward to a peer's private host candidate, which it cannot reach from here, and drop the
      // whole allocation on the send error). 203.0.113.0/24 is the test's "public" network.
      '--denied-peer-ip=10.0.0.0-10.255.255.255',
      '--denied-peer-ip=172.16.0.0-172.31.255.255',
      '--denied-peer-ip=192.168.0.0-192.168.255.255',
      '--allowed-peer-ip=203.0.113.0-203.0.113.255',
    ]);
    const signalArgs = [
      join(BIN, 'flotilla-signal.js'),
      '--host',
      pub,
      '--port',
      String(SIGNAL_PORT),
      '--stun-port',
      String(STUN_PORT),
      '--data-dir',
      join(base, 'signal'),
      '--turn-secret-file',
      secretFile,
      ...(tls
        ? ['--turn-url', `turns:${pub}:${TURNS_PORT}?transport=tcp`]
        : ['--turn-url', `turn:${pub}:${TURN_PORT}?transport=udp`, '--turn-url', `turn:${pub}:${TURN_PORT}?transport=tcp`]),
      '--turn-ttl',
      '600',
    ];
    const signal = topo.start(topo.ns.pub, process.execPath, signalArgs);
    await Promise.all([
      signal.waitFor(/signal\.listening/),
      coturn.waitFor(/TCP listener opened on : 203\.0\.113\.1:3478/),
      coturn.waitFor(/UDP listener opened on: 203\.0\.113\.1:3478/),
      ...(tls ? [coturn.waitFor(/TLS\/TCP listener opened on : 203\.0\.113\.1:5349/)] : []),
    ]);

    const admin = join(base, 'admin');
    const cli: Stack['cli'] = (args, timeoutMs = 90_000) =>
      topo.run(topo.ns.s2, process.execPath, [join(BIN, 'flotilla.js'), ...args], { env: { FLOTILLA_HOME: admin, NO_COLOR: '1', ...peerEnv }, timeoutMs });
    const ok = async (args: string[]) => {
      const result = await cli(args);
      if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.output}`);
      return result;
    };
    await ok(['init', '--signal', `http://${pub}:${SIGNAL_PORT}/`, '--name', 'nat-admin']);
    const token = (JSON.parse((await ok(['token', 'create', '--json'])).stdout) as { token: string }).token;
    const agent = topo.start(
      topo.ns.s1,
      process.execPath,
      [join(BIN, 'flotilla-agent.js'), 'join', token, '--state-dir', join(base, 'agent'), '--allow-root', base, '--tag', 'site=one'],
      peerEnv,
    );
    const agentId = (await agent.waitFor(/Enrolled as ([a-z2-7]{52})/))[1]!;
    await agent.waitFor(/"event":"signaling-open"|"event":"agent-started"/);
    const stack: Stack = {
      topo,
      base,
      admin,
      secret,
      coturn,
      signal,
      agent,
      agentId,
      cli,
      destroy,
      async restartSignal(downMs) {
        await stack.signal.stop();
        await new Promise((r) => setTimeout(r, downMs));
        stack.signal = topo.start(topo.ns.pub, process.execPath, signalArgs);
        await stack.signal.waitFor(/signal\.listening/);
      },
    };
    return stack;
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** Waits until `hosts --json` shows the agent accepted and online (the first handshake proves the token). */
export async function waitOnline(stack: Stack): Promise<void> {
  const deadline = Date.now() + 90_000;
  let last = '';
  for (;;) {
    const result = await stack.cli(['hosts', '--json']);
    last = result.output;
    if (result.code === 0) {
      const hosts = JSON.parse(result.stdout) as { id: string; status: string }[];
      if (hosts.some((h) => h.id === stack.agentId && h.status === 'online')) return;
    }
    if (Date.now() > deadline)
      throw new Error(
        `agent never accepted and online:\n${last}\nagent:\n${stack.agent.output().slice(-3000)}\ncoturn:\n${stack.coturn.output().slice(-6000)}`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** `ping --json` for the agent: its status and connection path. */
export async function ping(stack: Stack): Promise<{ status: string; path: PathInfo | null }> {
  const result = await stack.cli(['ping', 'tag:site=one', '--json']);
  const rows = (JSON.parse(result.stdout || '{"results":[]}') as { results: { id: string; status: string; data?: { path?: PathInfo | null } }[] }).results;
  const row = rows.find((r) => r.id === stack.agentId);
  if (!row) throw new Error(`no ping row for the agent:\n${result.output}`);
  if (row.status !== 'ok') throw new Error(`ping ${row.status}:\n${result.output}\nagent:\n${stack.agent.output().slice(-3000)}`);
  return { status: row.status, path: row.data?.path ?? null };
}

/** `run` and `push` through whatever path ICE chose; checks output and the file's bytes. */
export async function runAndPush(stack: Stack): Promise<void> {
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

export function turnLog(stack: Stack): string {
  return stack.coturn.output();
}

/** `hosts --probe`: the agent's row as JSON, and the table's line for it. */
export async function probe(stack: Stack): Promise<{ connection: { path: PathInfo | null; rttMs: number | null } | undefined; line: string }> {
  const json = await stack.cli(['hosts', '--probe', '--json']);
  const rows = JSON.parse(json.stdout || '[]') as { id: string; connection?: { path: PathInfo | null; rttMs: number | null } }[];
  const table = await stack.cli(['hosts', '--probe']);
  const line = table.stdout.split('\n').find((l) => l.startsWith(stack.agentId.slice(0, 8))) ?? '';
  return { connection: rows.find((r) => r.id === stack.agentId)?.connection, line };
}

/**
 * Chromium inside site 2's namespace (started through a wrapper as Playwright's executable), on
 * a persistent profile in the stack's directory. The public server has no TLS in the test, and
 * Web Crypto and service workers need a secure context: its origin is treated as one.
 */
export function chromiumInSite2(stack: Stack, viewport: { width: number; height: number }): Promise<BrowserContext> {
  return chromiumInSite(stack, 's2', viewport);
}

/** As chromiumInSite2, in site 1 or 2 (site 1: beside the agent); each site has its own wrapper and profile. */
export async function chromiumInSite(stack: Stack, site: 's1' | 's2', viewport: { width: number; height: number }): Promise<BrowserContext> {
  const suffix = site === 's2' ? '' : `-${site}`; // site 2 keeps the names it always had
  const wrapper = join(stack.base, `chromium-in-site${site.slice(1)}.sh`);
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${stack.topo.ns[site]} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  const origin = `http://${stack.topo.addr.pub}:${SIGNAL_PORT}`;
  return chromium.launchPersistentContext(join(stack.base, `chromium-profile${suffix}`), {
    executablePath: wrapper,
    args: [...CHROMIUM_ARGS, `--unsafely-treat-insecure-origin-as-secure=${origin}`],
    viewport,
  });
}
