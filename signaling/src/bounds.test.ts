// What one client can make the signaling server hold: ids per key, instances per device,
// connections per address, messages for absent peers, revocation lists per address (issue 17,
// "Bad input and faults"). Each test names the finding it guards; the hostile parties are raw
// sockets and crafted credentials, the server is the real one on loopback.

import { request } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, concatBytes, fromBase64, toBase64, toBase64Url, utf8 } from '../../shared/wire/encoding.ts';
import { fingerprint, generateSigningKeys, exportPublic, fleetIdOf, identityId, signText } from '../../shared/identity/crypto.ts';
import { issueRevocationList } from '../../shared/identity/certs.ts';
import type { DeviceIdentity, Identity } from '../../shared/identity/fleet.ts';
import type { SignalingServer } from './server.ts';
import { cleanUp, makeCast, offer, onCleanup, refused, register, registered, socketUrl, start, type Msg } from './test-support.ts';

let fleet: DeviceIdentity;
let agent: Identity;
let agent2: Identity;
let device: Identity;

beforeAll(async () => {
  ({ fleet, agent, agent2, device } = await makeCast());
});
afterEach(cleanUp);

/** A register credential for whatever keys and id it is given, signed with `who`'s real signing key. */
async function crafted(who: Identity, keys: { signPub: string; encPub: string }, id: string): Promise<string> {
  const body = { v: 1, purpose: 'register', kind: 'agent', fleet: fleet.fleetId, ...keys, id, ts: Date.now() };
  return `fc1.${toBase64Url(utf8(canonicalJson({ body, sig: await signText(who.keys.sign.privateKey, canonicalJson(body)) })))}`;
}

/** HTTP from a chosen loopback source address (the server counts per address). */
function http(
  server: SignalingServer,
  path: string,
  from: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: Msg }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server.url), { method: init.method ?? 'GET', headers: init.headers ?? {}, localAddress: from }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Msg }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

async function newFleetList(): Promise<{ list: unknown; fleetPub: string }> {
  const keys = await generateSigningKeys(true);
  const fleetPub = await exportPublic(keys.publicKey);
  return { list: await issueRevocationList(keys.privateKey, await fleetIdOf(fleetPub), 1, []), fleetPub };
}

describe('one key, one id', () => {
  it('refuses a credential whose key has bytes after its SPKI (regression: one key gave as many ids)', async () => {
    const { server } = await start();
    const ids: string[] = [];
    for (const extra of [[0], [0, 0], [1, 2, 3]]) {
      const signPub = toBase64(concatBytes(fromBase64(agent.pub.signPub)!, new Uint8Array(extra)));
      const id = await fingerprint(concatBytes(fromBase64(signPub)!, fromBase64(agent.pub.encPub)!));
      ids.push(id);
      const answer = await refused(socketUrl(server, { id, token: await crafted(agent, { signPub, encPub: agent.pub.encPub }, id) }));
      expect(answer).toMatchObject({ status: 401, body: expect.stringMatching(/signPub is not in canonical form/) });
    }
    expect(new Set([...ids, agent.id]).size).toBe(4); // each would have been an id of its own
    await registered(server, agent, fleet.fleetId);
  });

  it('lets a signing key hold one identity: another wrapping key with it is refused while the first is registered', async () => {
    const { server } = await start();
    await registered(server, agent, fleet.fleetId);
    // Any RSA public key serves as a wrapping key, so without this one signing key makes endless ids.
    const keys = { signPub: agent.pub.signPub, encPub: agent2.pub.encPub };
    const id = await identityId(keys);
    const answer = await refused(socketUrl(server, { id, token: await crafted(agent, keys, id) }));
    expect(answer).toMatchObject({ status: 409, body: expect.stringMatching(/signing key is already registered under another id/) });
  });
});

describe('per-device and per-address bounds', () => {
  it('caps the instances one device registers, and an agent still gets in (regression: "peer limit")', async () => {
    const { server } = await start({ limits: { maxPeers: 20 } });
    const token = await register(device, fleet.fleetId, 'device');
    let opened = 0;
    let answer: { status: number; body: string } | undefined;
    for (let i = 0; i < 20 && !answer; i++) {
      const url = socketUrl(server, { id: `${device.id}-inst${String.fromCharCode(97 + i)}`, token });
      answer = await refused(url).catch(() => undefined); // rejects when the server lets it in
      if (!answer) opened++;
    }
    expect(opened).toBe(16);
    expect(answer).toMatchObject({ status: 429, body: expect.stringMatching(/already has 16 instances registered/) });
    await registered(server, agent, fleet.fleetId);
  });

  it('turns away connections over the per-address cap with a sentence, and serves other addresses', async () => {
    const { server } = await start({ limits: { maxConnectionsPerIp: 5 } });
    const port = server.port;
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = tcpConnect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' }, () => resolve(socket));
        socket.on('error', reject);
        onCleanup(async () => void socket.destroy());
      });
    for (let i = 0; i < 5; i++) await open();
    const extra = await open();
    const reply = await new Promise<string>((resolve, reject) => {
      let text = '';
      extra.on('data', (chunk: Buffer) => (text += chunk.toString()));
      extra.on('close', () => resolve(text));
      setTimeout(() => reject(new Error(`no answer on the sixth connection: got "${text}"`)), 5_000);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 429/);
    expect(reply).toMatch(/your address already has 5 open connections/);
    expect((await http(server, '/healthz', '127.0.0.2')).body).toMatchObject({ ok: true });
  });

  it('answers OFFERs to an absent id with EXPIRE at once and keeps none of them for later', async () => {
    const { server } = await start();
    const sender = await registered(server, device, fleet.fleetId, 'device');
    sender.send(offer(agent.id, 'dc_early'));
    // Registered well within PeerServer's 5 s queue expiry, which would deliver dc_early now.
    const receiver = await registered(server, agent, fleet.fleetId);
    sender.send(offer(agent.id, 'dc_later'));
    expect(await receiver.next('OFFER')).toMatchObject({ payload: { connectionId: 'dc_later' } });
    expect(await sender.next('EXPIRE')).toMatchObject({ type: 'EXPIRE', src: agent.id });
  });
});

describe('a peer that does not read', () => {
  it('is closed once its unwritten messages pass maxBufferedPerPeer, and its senders get EXPIRE', async () => {
    const { server, logs } = await start({ limits: { maxBufferedPerPeer: 256 * 1024 } });
    const receiver = await registered(server, agent, fleet.fleetId);
    const sender = await registered(server, device, fleet.fleetId, 'device');
    // The receiver stops reading: the kernel's buffers fill, then the server's.
    (receiver.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = offer(agent.id) as { payload: { sdp: { sdp: string }; connectionId: string } };
    big.payload.sdp.sdp = `v=0\r\n${'a=x:'.concat('y'.repeat(60), '\r\n').repeat(900)}`;
    let sent = 0;
    const expired = sender.next('EXPIRE');
    while (!logs.some((l) => l.includes('"event":"peer.not-reading"'))) {
      for (let i = 0; i < 20; i++) sender.send({ ...big, payload: { ...big.payload, connectionId: `dc_${sent++}` } });
      await new Promise((r) => setTimeout(r, 50));
      if (sent > 4000) throw new Error('the server kept buffering for a peer that does not read');
    }
    expect(await expired).toMatchObject({ type: 'EXPIRE', src: agent.id });
  });
});

describe('HTTP API bounds', () => {
  it('lets a genuine new fleet store its list after one address stored lists for many fleets (regression: 429)', async () => {
    const { server } = await start({ limits: { maxFleets: 12, newFleetsPerIpPerDay: 8 } });
    const post = (from: string, body: unknown) =>
      http(server, '/api/revocation', from, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const statuses: number[] = [];
    const lists = await Promise.all(Array.from({ length: 12 }, () => newFleetList()));
    for (const body of lists) statuses.push((await post('127.0.0.1', body)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(8);
    const refusedOne = await post('127.0.0.1', lists[11]);
    expect(refusedOne).toMatchObject({ status: 429, body: { error: { code: 'rate-limited', message: expect.stringMatching(/8 new fleets today/) } } });
    const genuine = await issueRevocationList(fleet.fleetKeys!.privateKey, fleet.fleetId, 1, [device.id]);
    expect(await post('127.0.0.2', { list: genuine, fleetPub: fleet.fleetPub })).toMatchObject({ status: 200, body: { accepted: true } });
  });

  it('answers a JSON body in another charset with 400 and a sentence, not 500', async () => {
    const { server } = await start();
    const { list, fleetPub } = await newFleetList();
    const answer = await http(server, '/api/revocation', '127.0.0.1', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=latin1' },
      body: JSON.stringify({ list, fleetPub }),
    });
    expect(answer).toEqual({ status: 400, body: { error: { code: 'bad-message', message: expect.stringMatching(/UTF-8/) } } });
  });
});
