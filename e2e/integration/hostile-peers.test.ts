// Hostile peers against a real agent (issue 17, "Bad input and faults"): a stranger flooding
// the agent with OFFERs must not lock a fleet device out, and a revoked device must lose its
// open sessions within seconds, learned from the signaling server. Real signaling server, real
// agent process, real CLI homes; the only fake is the stranger, a raw PeerJS socket.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RTCPeerConnection } from 'werift';
import { WebSocket } from 'ws';
import { createIdentity } from '../../shared/identity/fleet.ts';
import { createPeerCredential } from '../../shared/identity/tokens.ts';
import { cli, killAll, removeDir, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let fleetId: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let agent: Proc & { id: string };
let stateDir: string;
const cleanups: (() => void | Promise<void>)[] = [];

beforeAll(async () => {
  base = await tempDir('hostile');
  admin = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'hostile-admin'])).code).toBe(0);
  fleetId = (JSON.parse((await cli(admin, ['device', 'show', '--json'])).stdout) as { fleet: string }).fleet;
  const token = (JSON.parse((await cli(admin, ['token', 'create', '--json'])).stdout) as { token: string }).token;
  stateDir = join(base, 'agent');
  agent = await startAgent(stateDir, token, ['--allow-root', base]);
  // Enrolled and accepted: the agent has met the admin once.
  expect((await cli(admin, ['ping', '--no-persist'])).code).toBe(0);
}, 90_000);

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await agent?.stop();
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

/** A stranger: a fresh key of its own, registered as a device claiming the fleet (the claim is free). */
async function stranger(): Promise<{ send(message: object): void; answers(): number }> {
  const who = await createIdentity(true);
  const token = await createPeerCredential(who.keys, { ...who.pub, purpose: 'register', kind: 'device', fleet: fleetId });
  const ws = new WebSocket(`${signal.url.replace(/^http/, 'ws')}peerjs?${new URLSearchParams({ key: 'peerjs', id: who.id, token, version: '1.5.5' })}`);
  let answers = 0;
  const opened = new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      const type = (JSON.parse(data.toString()) as { type?: string }).type;
      if (type === 'OPEN') resolve();
      if (type === 'ANSWER') answers++;
    });
    ws.once('error', reject);
  });
  cleanups.push(() => ws.terminate());
  await opened;
  return { send: (message) => ws.send(JSON.stringify(message)), answers: () => answers };
}

/** A real data-channel offer (werift's), which the stranger never follows up: no candidates, no ICE. */
async function deadOffer(): Promise<string> {
  const pc = new RTCPeerConnection({ iceServers: [{ urls: `stun:127.0.0.1:${signal.port}` }] });
  pc.createDataChannel('flotilla');
  const offer = await pc.createOffer();
  await pc.close();
  return offer.sdp;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a stranger flooding the agent with offers', () => {
  it('does not lock the admin out: 64 unanswered OFFERs, then the admin pings at once (regression: ~30 s of failures)', async () => {
    const hostile = await stranger();
    const sdp = await deadOffer();
    for (let i = 0; i < 64; i++) {
      hostile.send({
        type: 'OFFER',
        dst: agent.id,
        payload: { sdp: { type: 'offer', sdp }, type: 'data', connectionId: `dc_hostile${i}`, label: 'flotilla', reliable: true, serialization: 'raw' },
      });
    }
    // The agent took up the offers (all of them arrived before any later dial can).
    await until(() => hostile.answers() > 0, "the agent's first ANSWER to the stranger");
    const ping = await cli(admin, ['ping', '--no-persist', '--json']);
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    // The stranger got no more than its share.
    expect(hostile.answers()).toBeLessThanOrEqual(8);
  }, 60_000);
});

describe('revocation reaches agents from the signaling server', () => {
  it("closes a revoked device's open session within seconds, with no device dialling the agent (regression: kept until the 5-minute poll, and then still open)", async () => {
    const other = join(base, 'other');
    expect((await cli(admin, ['device', 'add', 'other-laptop', '--home', other, '--role', 'operator'])).code).toBe(0);
    const otherId = (JSON.parse((await cli(other, ['device', 'show', '--json'])).stdout) as { id: string }).id;
    // The other device keeps its data channel open in a control process.
    expect((await cli(other, ['connect', '--persist', '60s'])).code).toBe(0);
    cleanups.push(async () => void (await cli(other, ['connect', '--stop']).catch(() => undefined)));
    await agent.waitFor(new RegExp(`"event":"session-open","device":"${otherId.slice(0, 8)}"`));

    // Only the signaling server hears of it: `device revoke` publishes and dials nobody.
    expect((await cli(admin, ['device', 'revoke', otherId])).code).toBe(0);
    await agent.waitFor(new RegExp(`"event":"session-revoked","device":"${otherId.slice(0, 8)}"`), 20_000);
    expect(agent.output()).toMatch(/"event":"revocation-updated","version":1,"revoked":1,"source":"push"/);
    const saved = JSON.parse(await readFile(join(stateDir, 'revocation.json'), 'utf8')) as { body: { revoked: string[] } };
    expect(saved.body.revoked).toEqual([otherId]);
    await until(async () => {
      const status = await cli(other, ['connect', '--status', '--json']);
      return (JSON.parse(status.stdout) as { connections: unknown[] }).connections.length === 0;
    }, "the revoked device's control process to lose its connection");
    // The admin is not affected.
    expect((await cli(admin, ['ping', '--no-persist'])).code).toBe(0);
  }, 90_000);
});
