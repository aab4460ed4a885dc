// The signaling server's PeerJS socket for real: registration with Flotilla credentials,
// takeover of a connected id, validated relaying and per-socket limits.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeys } from '../../shared/identity/crypto.ts';
import type { DeviceIdentity, Identity } from '../../shared/identity/fleet.ts';
import {
  cleanUp,
  connect,
  forge,
  makeCast,
  offer,
  presenceCredential,
  readPresence,
  refused,
  register,
  registered,
  socketUrl,
  start,
  type Msg,
} from './test-support.ts';

let fleet: DeviceIdentity;
let agent: Identity;
let agent2: Identity;
let device: Identity;

beforeAll(async () => {
  ({ fleet, agent, agent2, device } = await makeCast());
});
afterEach(cleanUp);

describe('registration', () => {
  it('lets an agent with a valid credential register (OPEN)', async () => {
    const { server, logs } = await start();
    await registered(server, agent, fleet.fleetId);
    const line = logs.map((l) => JSON.parse(l) as Msg).find((l) => l['event'] === 'peer.registered');
    expect(line).toMatchObject({ level: 'info', id: agent.id.slice(0, 8), kind: 'agent', fleet: fleet.fleetId.slice(0, 8), remote: '127.0.0.1' });
  });

  it('refuses a forged credential, one for another id, a stale one and a missing token, saying why', async () => {
    const { server, logs } = await start();
    const rogue = await generateSigningKeys(true);
    const cases: [string, string, RegExp][] = [
      [agent.id, await forge(await register(agent, fleet.fleetId), rogue.privateKey), /signature does not verify/],
      [agent2.id, await register(agent, fleet.fleetId), /another id/],
      [agent.id, await register(agent, fleet.fleetId, 'agent', Date.now() - 10 * 60_000), /stale/],
      [agent.id, '', /missing id, token or key/],
    ];
    for (const [id, token, reason] of cases) {
      const query: Record<string, string> = token ? { id, token } : { id };
      const answer = await refused(socketUrl(server, query));
      expect(answer.status).toBe(401);
      expect(answer.body).toMatch(reason);
    }
    const refusals = logs.map((l) => JSON.parse(l) as Msg).filter((l) => l['event'] === 'peer.refused');
    expect(refusals.map((l) => l['reason'])).toEqual([
      expect.stringMatching(/signature/),
      expect.stringMatching(/another id/),
      expect.stringMatching(/stale/),
      expect.stringMatching(/missing/),
    ]);
    // Tokens never reach the log, not even refused ones (the tail is the unique signature).
    for (const [, token] of cases) if (token) expect(logs.join('\n')).not.toContain(token.slice(-32));
  });

  it('registers the verified id even when the URL repeats the id parameter', async () => {
    const { server } = await start();
    const sneaky = await connect(server, agent.id, '', socketUrl(server, { id: agent.id, token: await register(agent, fleet.fleetId) }) + `&id=${agent2.id}`);
    expect(await sneaky.next()).toEqual({ type: 'OPEN' });
    const sender = await registered(server, device, fleet.fleetId, 'device');
    sender.send(offer(agent2.id, 'dc_wrong'));
    sender.send(offer(agent.id, 'dc_right'));
    // Messages from one sender arrive in order: the first OFFER would come first if misrouted.
    expect(await sneaky.next('OFFER')).toMatchObject({ dst: agent.id, payload: { connectionId: 'dc_right' } });
  });

  it('replaces the old socket when the same id registers again with a fresh credential', async () => {
    const { server, logs } = await start();
    const old = await registered(server, agent, fleet.fleetId);
    const fresh = await connect(server, agent.id, await register(agent, fleet.fleetId, 'agent', Date.now() + 1_000));
    expect(await fresh.next()).toEqual({ type: 'OPEN' });
    expect((await old.closed).code).toBe(4000);
    const sender = await registered(server, device, fleet.fleetId, 'device');
    sender.send(offer(agent.id));
    expect(await fresh.next('OFFER')).toMatchObject({ type: 'OFFER', src: device.id });
    const admin = await presenceCredential(fleet);
    expect((await readPresence(server, admin)).body['agents']).toEqual([expect.objectContaining({ id: agent.id, online: true })]);
    expect(logs.some((l) => l.includes('"event":"peer.registered"') && l.includes('"takeover":true'))).toBe(true);
    expect(logs.some((l) => l.includes('ID-TAKEN'))).toBe(false);
  });
});

describe('device instances', () => {
  it('keeps two instances of one device registered at once, each getting its own answers', async () => {
    const { server } = await start();
    const target = await registered(server, agent, fleet.fleetId);
    const one = await connect(server, `${device.id}-aaaa`, await register(device, fleet.fleetId, 'device'));
    expect(await one.next()).toEqual({ type: 'OPEN' });
    const two = await connect(server, `${device.id}-bbbb`, await register(device, fleet.fleetId, 'device'));
    expect(await two.next()).toEqual({ type: 'OPEN' });
    one.send(offer(agent.id, 'dc_one'));
    two.send(offer(agent.id, 'dc_two'));
    expect(await target.next('OFFER')).toMatchObject({ src: `${device.id}-aaaa`, payload: { connectionId: 'dc_one' } });
    expect(await target.next('OFFER')).toMatchObject({ src: `${device.id}-bbbb`, payload: { connectionId: 'dc_two' } });
    // Neither replaced the other.
    const race = await Promise.race([
      one.closed.then(() => 'one closed'),
      two.closed.then(() => 'two closed'),
      new Promise((r) => setTimeout(() => r('both open'), 300)),
    ]);
    expect(race).toBe('both open');
  });

  it("refuses an instance id for an agent, and an instance of someone else's id", async () => {
    const { server } = await start();
    const asAgent = await refused(socketUrl(server, { id: `${agent.id}-aaaa`, token: await register(agent, fleet.fleetId) }));
    expect(asAgent).toMatchObject({ status: 401, body: expect.stringMatching(/only a device may register an instance id/) });
    const other = await refused(socketUrl(server, { id: `${agent2.id}-aaaa`, token: await register(device, fleet.fleetId, 'device') }));
    expect(other).toMatchObject({ status: 401, body: expect.stringMatching(/another id/) });
  });
});

describe('relaying', () => {
  it('relays an OFFER between two registered peers with its payload intact', async () => {
    const { server } = await start();
    const receiver = await registered(server, agent, fleet.fleetId);
    const sender = await registered(server, device, fleet.fleetId, 'device');
    const sent = offer(agent.id);
    sender.send(sent);
    expect(await receiver.next('OFFER')).toEqual({ type: 'OFFER', src: device.id, dst: agent.id, payload: sent['payload'] });
  });

  it('answers invalid messages with ERROR and keeps relaying valid ones', async () => {
    const { server, logs } = await start({ limits: { maxPayload: 256 * 1024 } });
    const receiver = await registered(server, agent, fleet.fleetId);
    const sender = await registered(server, device, fleet.fleetId, 'device');
    const huge = offer(agent.id) as { payload: { sdp: { sdp: string } } };
    huge.payload.sdp.sdp = 'a'.repeat(64 * 1024 + 1);
    const bad: [unknown, RegExp][] = [
      ['{not json', /not JSON/],
      [{ type: 'EXPIRE', dst: agent.id }, /unknown type/],
      [huge, /sdp: longer than/],
      [{ ...offer(agent.id), dst: 42 }, /dst: expected a string/],
      [{ ...offer(agent.id), dst: 'x'.repeat(65) }, /dst: longer than 64/],
    ];
    for (const [message, reason] of bad) {
      sender.send(message);
      const error = await sender.next('ERROR');
      expect(error).toMatchObject({ type: 'ERROR', payload: { msg: expect.stringMatching(reason) } });
    }
    sender.send(offer(agent.id, 'dc_after'));
    expect(await receiver.next()).toMatchObject({ type: 'OFFER', payload: { connectionId: 'dc_after' } });
    const invalid = logs.map((l) => JSON.parse(l) as Msg).filter((l) => l['event'] === 'message.invalid');
    expect(invalid).toHaveLength(bad.length);
    expect(invalid[0]).toMatchObject({ id: device.id.slice(0, 8), kind: 'device' });
    expect(logs.join('\n')).not.toContain('aaaaaaaaaaaaaaaa'); // no SDP in the logs
  });

  it('closes only the socket that sends a message over maxPayload', async () => {
    const { server } = await start();
    const receiver = await registered(server, agent, fleet.fleetId);
    const big = await registered(server, device, fleet.fleetId, 'device');
    big.send({ type: 'HEARTBEAT', pad: 'x'.repeat(70 * 1024) });
    expect((await big.closed).code).toBe(1009);
    const other = await registered(server, agent2, fleet.fleetId, 'device');
    other.send(offer(agent.id, 'dc_still'));
    expect(await receiver.next('OFFER')).toMatchObject({ src: agent2.id, payload: { connectionId: 'dc_still' } });
  });

  it('closes a socket that floods past the rate limit while another peer keeps working', async () => {
    const { server, logs } = await start({ limits: { messagesPerSecond: 1, messageBurst: 5 } });
    const receiver = await registered(server, agent, fleet.fleetId);
    const flooder = await registered(server, device, fleet.fleetId, 'device');
    for (let i = 0; i < 20; i++) flooder.send({ type: 'HEARTBEAT' });
    expect(await flooder.next('ERROR')).toEqual({ type: 'ERROR', payload: { msg: 'rate limit exceeded' } });
    expect((await flooder.closed).code).toBe(1008);
    const other = await registered(server, agent2, fleet.fleetId, 'device');
    other.send(offer(agent.id, 'dc_calm'));
    expect(await receiver.next('OFFER')).toMatchObject({ src: agent2.id, payload: { connectionId: 'dc_calm' } });
    expect(logs.some((l) => l.includes('"event":"peer.rate-limited"'))).toBe(true);
  });
});
