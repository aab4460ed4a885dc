import { describe, it, expect, beforeAll } from 'vitest';
import { createMemoryLinkPair, type Tamper } from './memory-link.ts';
import { createLinkInbox } from './link-queue.ts';
import { runHandshake, type HandshakeResult } from './handshake.ts';
import { createSecureSession, type SecureSession } from './session.ts';
import { addDevice, createFleet, createIdentity, type DeviceIdentity, type Identity } from '../identity/fleet.ts';
import { checkAgentHello, checkDeviceHello } from '../controller/peer-checks.ts';
import { issueHostCert, issueRevocationList, type RevocationList } from '../identity/certs.ts';
import { FlotillaError } from '../wire/errors.ts';
import { fingerprint } from '../identity/crypto.ts';
import { concatBytes, fromBase64, toBase64 } from '../wire/encoding.ts';
import type { Message } from '../wire/protocol.ts';
import type { RawLink } from './transport.ts';

let admin: DeviceIdentity;
let agent: Identity;
let otherFleet: DeviceIdentity;

beforeAll(async () => {
  [admin, agent, otherFleet] = await Promise.all([createFleet('laptop', true), createIdentity(true), createFleet('stranger', true)]);
});

interface PairOptions {
  device?: DeviceIdentity;
  agentIdentity?: Identity;
  tamper?: Tamper;
  aSeesB?: string;
  bSeesA?: string;
  agentRevocation?: RevocationList;
  deviceRevocation?: RevocationList;
  hostCert?: unknown;
}

async function handshakePair(o: PairOptions = {}) {
  const device = o.device ?? admin;
  const ag = o.agentIdentity ?? agent;
  const [dLink, aLink] = createMemoryLinkPair({
    ...(o.tamper ? { tamper: o.tamper } : {}),
    ...(o.aSeesB ? { aSeesB: o.aSeesB } : {}),
    ...(o.bSeesA ? { bSeesA: o.bSeesA } : {}),
  });
  const dInbox = createLinkInbox(dLink);
  const aInbox = createLinkInbox(aLink);
  const deviceSide = runHandshake(dLink, dInbox, {
    role: 'device',
    keys: device.keys,
    pub: device.pub,
    id: device.id,
    fleet: device.fleetId,
    fleetPub: device.fleetPub,
    cert: device.cert,
    ...(o.deviceRevocation ? { revocation: o.deviceRevocation } : {}),
    checkPeer: async (hello) => {
      await checkAgentHello(hello, device.fleetId, device.fleetPub, undefined);
    },
    timeoutMs: 3000,
  });
  const agentSide = runHandshake(aLink, aInbox, {
    role: 'agent',
    keys: ag.keys,
    pub: ag.pub,
    id: ag.id,
    fleet: admin.fleetId,
    ...(o.hostCert ? { hostCert: o.hostCert } : {}),
    checkPeer: async (hello) => {
      await checkDeviceHello(hello, admin.fleetId, o.agentRevocation);
    },
    timeoutMs: 3000,
  });
  const [d, a] = await Promise.allSettled([deviceSide, agentSide]);
  return { d, a, dLink, aLink, dInbox, aInbox };
}

function reason(r: PromiseSettledResult<HandshakeResult>): FlotillaError {
  if (r.status === 'fulfilled') throw new Error('handshake unexpectedly succeeded');
  expect(r.reason).toBeInstanceOf(FlotillaError);
  return r.reason as FlotillaError;
}

async function sessions(o: PairOptions = {}): Promise<{ device: SecureSession; agent: SecureSession }> {
  const { d, a, dLink, aLink, dInbox, aInbox } = await handshakePair(o);
  if (d.status !== 'fulfilled' || a.status !== 'fulfilled') throw new Error('handshake failed');
  return { device: createSecureSession(dLink as RawLink, dInbox, d.value), agent: createSecureSession(aLink as RawLink, aInbox, a.value) };
}

function collect(session: SecureSession) {
  const got: { message: Message; body: Uint8Array }[] = [];
  let closeError: FlotillaError | undefined | null = null;
  session.onMessage((message, body) => got.push({ message, body: new Uint8Array(body) }));
  session.onClose((error) => (closeError = error));
  return { got, closeError: () => closeError };
}

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

describe('handshake', () => {
  it('completes with a valid device certificate and yields matching transcripts', async () => {
    const { d, a } = await handshakePair();
    expect(d.status).toBe('fulfilled');
    expect(a.status).toBe('fulfilled');
    if (d.status === 'fulfilled' && a.status === 'fulfilled') {
      expect(d.value.transcript).toEqual(a.value.transcript);
      expect(d.value.peer.id).toBe(agent.id);
      expect(a.value.peer.id).toBe(admin.id);
    }
  });

  it('fails on both sides when the signaling server rewrote the DTLS fingerprints', async () => {
    // The MITM hands each side its own certificate's fingerprint instead of the peer's.
    const { d, a } = await handshakePair({ aSeesB: 'sha-256 EE:EE', bSeesA: 'sha-256 FF:FF' });
    expect(reason(d).code).toBe('binding-mismatch');
    expect(['binding-mismatch']).toContain(reason(a).code);
  });

  it('refuses an agent whose id does not match its key', async () => {
    const impostor = await createIdentity(true);
    const { d } = await handshakePair({ agentIdentity: { ...impostor, id: agent.id } });
    expect(reason(d).code).toBe('id-mismatch');
  });

  it('refuses an agent whose key carries bytes after its SPKI (one key, one id)', async () => {
    const signPub = toBase64(concatBytes(fromBase64(agent.pub.signPub)!, new Uint8Array([0])));
    const pub = { ...agent.pub, signPub };
    // The id main derived for it: a second id for the same key pair.
    const id = await fingerprint(concatBytes(fromBase64(signPub)!, fromBase64(agent.pub.encPub)!));
    const { d } = await handshakePair({ agentIdentity: { ...agent, pub, id } });
    expect(reason(d)).toMatchObject({ code: 'bad-message', detail: expect.stringMatching(/canonical/) });
  });

  it('refuses a device from another fleet', async () => {
    const { a, d } = await handshakePair({ device: otherFleet });
    expect(reason(a).code).toBe('not-in-fleet');
    expect(reason(d).code).toBe('not-in-fleet');
  });

  it('refuses an unsigned (self-made) device certificate', async () => {
    const forged = await addDevice(otherFleet, 'forger', 'admin');
    // Claim the right fleet but sign with a foreign key.
    const device: DeviceIdentity = {
      ...forged,
      fleetId: admin.fleetId,
      fleetPub: admin.fleetPub,
      cert: { ...forged.cert, body: { ...forged.cert.body, fleet: admin.fleetId } },
    };
    const { a } = await handshakePair({ device });
    expect(reason(a).code).toBe('not-in-fleet');
  });

  it('refuses an expired certificate', async () => {
    const old = await addDevice(admin, 'old phone', 'operator', { now: Date.now() - 10_000, ttlMs: 5_000 });
    const { a, d } = await handshakePair({ device: old });
    expect(reason(a).code).toBe('cert-expired');
    expect(reason(d).code).toBe('cert-expired');
  });

  it('refuses a revoked device, learning the list from another device', async () => {
    const lost = await addDevice(admin, 'lost phone', 'operator');
    const list = await issueRevocationList(admin.fleetKeys!.privateKey, admin.fleetId, 1, [lost.id]);
    const { a } = await handshakePair({ device: lost, agentRevocation: list });
    expect(reason(a).code).toBe('cert-revoked');
    // A revoked device that offers an older list cannot roll back the agent's newer one.
    const older = await issueRevocationList(admin.fleetKeys!.privateKey, admin.fleetId, 0, []);
    const second = await handshakePair({ device: lost, agentRevocation: list, deviceRevocation: older });
    expect(reason(second.a).code).toBe('cert-revoked');
  });

  it('accepts the pinned key and refuses a different one', async () => {
    const other = await createIdentity(true);
    await expect(checkAgentHello({ ...agent.pub, id: agent.id } as never, admin.fleetId, admin.fleetPub, other.pub)).rejects.toMatchObject({
      code: 'key-mismatch',
    });
    const hostCert = await issueHostCert(admin.fleetKeys!.privateKey, admin.fleetId, agent.pub, admin.id);
    const result = await checkAgentHello({ ...agent.pub, id: agent.id, hostCert } as never, admin.fleetId, admin.fleetPub, undefined);
    expect(result.accepted).toBe(true);
    await expect(checkAgentHello({ ...other.pub, id: other.id, hostCert } as never, admin.fleetId, admin.fleetPub, undefined)).rejects.toMatchObject({
      code: 'key-mismatch',
    });
  });
});

describe('secure session', () => {
  it('carries messages and large bodies both ways', async () => {
    const { device, agent: ag } = await sessions();
    const atAgent = collect(ag);
    const atDevice = collect(device);
    const big = new Uint8Array(900_000).map((_, i) => i % 251);
    await device.send({ type: 'ping', id: 'p1' });
    await device.send({ type: 'push.chunk', id: 'x', offset: 0 }, big);
    await ag.send({ type: 'result', id: 'p1', status: 'ok' });
    await tick(100);
    expect(atAgent.got.map((g) => g.message.type)).toEqual(['ping', 'push.chunk']);
    expect(Buffer.compare(atAgent.got[1]!.body, big)).toBe(0);
    expect(atDevice.got[0]?.message).toMatchObject({ type: 'result', status: 'ok' });
  });

  async function tampered(tamper: Tamper) {
    const armed = { on: false };
    const s = await sessions({ tamper: (data, from) => (armed.on && from === 'a' && typeof data !== 'string' ? tamper(data, from) : [data]) });
    const atAgent = collect(s.agent);
    armed.on = true;
    await s.device.send({ type: 'ping', id: 'one' });
    await s.device.send({ type: 'ping', id: 'two' });
    await tick(80);
    return atAgent;
  }

  it('rejects a replayed record and closes', async () => {
    const atAgent = await tampered((data) => [data, data]);
    expect(atAgent.got.map((g) => g.message.type)).toEqual(['ping']);
    expect(atAgent.closeError()).toMatchObject({ code: 'bad-seal' });
  });

  it('rejects reordered records', async () => {
    let held: Uint8Array | string | undefined;
    const atAgent = await tampered((data) => {
      if (!held) {
        held = data;
        return [];
      }
      return [data, held];
    });
    expect(atAgent.got).toHaveLength(0);
    expect(atAgent.closeError()).toMatchObject({ code: 'bad-seal' });
  });

  it('rejects a bit-flipped record', async () => {
    const atAgent = await tampered((data) => {
      const copy = new Uint8Array(data as Uint8Array);
      copy[copy.length - 20]! ^= 1;
      return [copy];
    });
    expect(atAgent.got).toHaveLength(0);
    expect(atAgent.closeError()).toMatchObject({ code: 'bad-seal' });
  });

  it('rejects a truncated record', async () => {
    const atAgent = await tampered((data) => [(data as Uint8Array).subarray(0, 20)]);
    expect(atAgent.closeError()).toMatchObject({ code: 'bad-seal' });
  });
});

describe('key rotation', () => {
  it('rotates the sending key after the message limit and the receiver follows', async () => {
    const { createSealer, createOpener } = await import('./seal.ts');
    const { generateAesKey } = await import('../identity/crypto.ts');
    const { key } = await generateAesKey();
    const sealer = createSealer(key, 'device-to-agent', { maxMessages: 3, maxAgeMs: 60_000 });
    const opener = createOpener(key, 'device-to-agent');
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) {
      for (const record of await sealer.seal(new TextEncoder().encode(`m${i}`))) {
        const plain = await opener.open(record);
        if (plain) seen.push(new TextDecoder().decode(plain));
      }
    }
    expect(seen).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    expect(sealer.epoch).toBe(2);
    expect(opener.epoch).toBe(2);
    // A record sealed under an old key is refused after the rotation.
    const stale = createSealer(key, 'device-to-agent');
    const [old] = await stale.seal(new TextEncoder().encode('old'));
    await expect(opener.open(old!)).rejects.toMatchObject({ code: 'bad-seal' });
  });

  it('refuses a record sealed for the other direction', async () => {
    const { createSealer, createOpener } = await import('./seal.ts');
    const { generateAesKey } = await import('../identity/crypto.ts');
    const { key } = await generateAesKey();
    const [record] = await createSealer(key, 'agent-to-device').seal(new Uint8Array([1]));
    await expect(createOpener(key, 'device-to-agent').open(record!)).rejects.toMatchObject({ code: 'bad-seal' });
  });
});
