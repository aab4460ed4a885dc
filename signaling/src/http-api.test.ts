// The signaling server's HTTP side for real: presence per fleet, revocation lists,
// persistence in --data-dir, health, ICE servers and static files.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { issueDeviceCert, issueRevocationList } from '../../shared/identity/certs.ts';
import { generateSigningKeys } from '../../shared/identity/crypto.ts';
import { addDevice, type DeviceIdentity, type Identity } from '../../shared/identity/fleet.ts';
import { iceHost } from './http-api.ts';
import {
  api,
  cleanUp,
  eventually,
  makeCast,
  onCleanup,
  postRevocation,
  presenceCredential,
  readPresence,
  register,
  registered,
  start,
  type Msg,
} from './test-support.ts';

let fleet: DeviceIdentity;
let agent: Identity;
let agent2: Identity;
let otherFleet: DeviceIdentity;

beforeAll(async () => {
  ({ fleet, otherFleet, agent, agent2 } = await makeCast());
});
afterEach(cleanUp);

describe('presence', () => {
  it("shows a fleet's device its agents online, then offline with lastSeen", async () => {
    const { server } = await start();
    const token = await presenceCredential(fleet);
    const peer = await registered(server, agent, fleet.fleetId);
    await registered(server, agent2, fleet.fleetId);
    const online = await readPresence(server, token);
    expect(online.status).toBe(200);
    expect(online.body).toMatchObject({ fleet: fleet.fleetId, now: expect.any(Number) });
    expect(online.body['agents']).toEqual(
      expect.arrayContaining([{ id: agent.id, online: true, connectedAt: expect.any(Number), lastSeen: expect.any(Number) }]),
    );
    peer.ws.close();
    await eventually(async () => {
      const agents = (await readPresence(server, token)).body['agents'] as Msg[];
      return agents.some((a) => a['id'] === agent.id && a['online'] === false);
    });
    const offline = ((await readPresence(server, token)).body['agents'] as Msg[]).find((a) => a['id'] === agent.id);
    expect(offline).toEqual({ id: agent.id, online: false, lastSeen: expect.any(Number) });
  });

  it('keeps fleets apart and refuses other fleets, forged certificates and bad headers', async () => {
    const { server } = await start();
    await registered(server, agent, fleet.fleetId);
    // Another fleet's device sees its own fleet only.
    const own = await readPresence(server, await presenceCredential(otherFleet));
    expect(own).toMatchObject({ status: 200, body: { fleet: otherFleet.fleetId, agents: [] } });
    // Claiming fleet A with fleet B's certificate.
    const crossing = await readPresence(server, await presenceCredential(otherFleet, fleet.fleetId));
    expect(crossing).toMatchObject({ status: 403, body: { error: { code: 'not-in-fleet' } } });
    // A certificate for fleet A signed by a key that is not fleet A's.
    const rogue = await generateSigningKeys(true);
    const forgedCert = await issueDeviceCert(rogue.privateKey, fleet.fleetId, fleet.pub, 'forged', 'admin');
    const forged = await readPresence(server, await presenceCredential(fleet, fleet.fleetId, forgedCert));
    expect(forged).toMatchObject({ status: 403, body: { error: { code: 'not-in-fleet' } } });
    const registerToken = await readPresence(server, await register(agent, fleet.fleetId));
    expect(registerToken).toMatchObject({ status: 401, body: { error: { code: 'bad-token' } } });
    const none = await api(server, '/api/presence');
    expect(none).toMatchObject({ status: 401, body: { error: { code: 'bad-token', message: expect.any(String) } } });
  });
});

describe('revocation lists', () => {
  it('refuses a revoked device and never lets a lower version replace a higher one', async () => {
    const { server } = await start();
    const fleetKey = fleet.fleetKeys?.privateKey;
    if (!fleetKey) throw new Error('the test fleet holds its key');
    const phone = await addDevice(fleet, 'phone', 'operator');
    expect((await readPresence(server, await presenceCredential(phone))).status).toBe(200);
    expect((await api(server, `/api/revocation/${fleet.fleetId}`)).status).toBe(404);

    const v2 = await issueRevocationList(fleetKey, fleet.fleetId, 2, [phone.id]);
    expect(await postRevocation(server, { fleetPub: fleet.fleetPub, list: v2 })).toMatchObject({ status: 200, body: { accepted: true, version: 2 } });
    const revoked = await readPresence(server, await presenceCredential(phone));
    expect(revoked).toMatchObject({ status: 403, body: { error: { code: 'cert-revoked' } } });

    const v1 = await issueRevocationList(fleetKey, fleet.fleetId, 1, []);
    expect(await postRevocation(server, { fleetPub: fleet.fleetPub, list: v1 })).toMatchObject({ status: 200, body: { accepted: false, version: 2 } });
    expect(await api(server, `/api/revocation/${fleet.fleetId}`)).toMatchObject({ status: 200, body: { body: { version: 2, revoked: [phone.id] } } });
    expect((await readPresence(server, await presenceCredential(phone))).status).toBe(403);
    expect((await readPresence(server, await presenceCredential(fleet))).status).toBe(200);

    const rogue = await generateSigningKeys(true);
    const forged = await issueRevocationList(rogue.privateKey, fleet.fleetId, 9, []);
    expect(await postRevocation(server, { fleetPub: fleet.fleetPub, list: forged })).toMatchObject({ status: 403, body: { error: { code: 'not-in-fleet' } } });
    expect(await postRevocation(server, { fleetPub: fleet.fleetPub })).toMatchObject({ status: 400, body: { error: { code: 'bad-message' } } });
  });

  it('keeps lists and last-seen times in --data-dir across a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'flotilla-signal-'));
    onCleanup(() => rm(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));
    const fleetKey = fleet.fleetKeys?.privateKey;
    if (!fleetKey) throw new Error('the test fleet holds its key');
    const first = await start({ dataDir });
    await registered(first.server, agent, fleet.fleetId);
    await postRevocation(first.server, { fleetPub: fleet.fleetPub, list: await issueRevocationList(fleetKey, fleet.fleetId, 3, []) });
    await first.server.close();
    const second = await start({ dataDir });
    const token = await presenceCredential(fleet);
    expect((await readPresence(second.server, token)).body['agents']).toEqual([{ id: agent.id, online: false, lastSeen: expect.any(Number) }]);
    expect(await api(second.server, `/api/revocation/${fleet.fleetId}`)).toMatchObject({ status: 200, body: { body: { version: 3 } } });
  });
});

describe('http', () => {
  it('answers /healthz and /api/ice', async () => {
    const { server } = await start();
    await registered(server, agent, fleet.fleetId);
    const health = await api(server, '/healthz');
    expect(health).toMatchObject({ status: 200, body: { ok: true, version: expect.any(String), uptimeS: expect.any(Number), peers: 1, agentsOnline: 1 } });
    const ice = await api(server, '/api/ice');
    expect(ice).toEqual({ status: 200, body: { iceServers: [{ urls: `stun:127.0.0.1:${server.stunPort}` }] } });
  });

  it('takes the STUN host from the Host header, bracketing IPv6', () => {
    expect(iceHost('signal.example.org:9000', '10.0.0.1')).toBe('signal.example.org');
    expect(iceHost('[::1]:9000', '10.0.0.1')).toBe('[::1]');
    expect(iceHost('[2001:db8::7]', '10.0.0.1')).toBe('[2001:db8::7]');
    expect(iceHost('bad host\r\n', '::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(iceHost(undefined, '::1')).toBe('[::1]');
  });

  it('serves a build hint at / when the web app is missing, and the agent bundle when present', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-web-'));
    onCleanup(() => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));
    await writeFile(join(dir, 'agent.mjs'), 'export {};\n');
    const { server } = await start({ webRoot: join(dir, 'missing'), agentBundle: join(dir, 'agent.mjs') });
    const home = await fetch(server.url);
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('npm run build');
    const bundle = await fetch(new URL('/agent/flotilla-agent.mjs', server.url));
    expect(bundle.headers.get('content-type')).toMatch(/javascript/);
    expect(await bundle.text()).toBe('export {};\n');
  });
});
