import { afterEach, describe, expect, it, vi } from 'vitest';
import { fetchPresence, iceServerSource, PRESENCE_CREDENTIAL_REUSE_MS, turnExpiry, type IceServerConfig } from './signal-api.ts';
import { createIdentity, type DeviceIdentity } from '../identity/fleet.ts';

const STUN: IceServerConfig[] = [{ urls: 'stun:203.0.113.1:3479' }];
const turn = (expirySeconds: number, n = 0): IceServerConfig[] => [
  ...STUN,
  { urls: 'turn:203.0.113.1:3478?transport=udp', username: `${expirySeconds}:peer`, credential: `secret-${n}` },
];

describe('turnExpiry', () => {
  it('reads the earliest `<expiry>:` username and ignores entries without one', () => {
    expect(turnExpiry(STUN)).toBeUndefined();
    expect(
      turnExpiry([...turn(2000), { urls: 'turn:x', username: '1500:other', credential: 'c' }, { urls: 'turn:y', username: 'static', credential: 'c' }]),
    ).toBe(1_500_000);
  });
});

describe('iceServerSource', () => {
  function harness(answers: (() => IceServerConfig[])[]) {
    let clock = 1_000_000_000; // ms
    let calls = 0;
    const errors: string[] = [];
    const source = iceServerSource(
      async () => {
        const answer = answers[Math.min(calls, answers.length - 1)]!;
        calls++;
        return answer();
      },
      () => STUN,
      (e) => errors.push(e.message),
      () => clock,
    );
    return { source, errors, calls: () => calls, advance: (ms: number) => (clock += ms), now: () => clock };
  }

  it('reuses a list until its TURN credential is 5 minutes from expiry, then fetches a fresh one', async () => {
    const t0 = 1_000_000; // s, the harness clock's start
    const h = harness([() => turn(t0 + 3600, 1), () => turn(t0 + 7200, 2)]);
    expect((await h.source())[1]?.credential).toBe('secret-1');
    h.advance(3000_000); // 50 min: 10 min left
    expect((await h.source())[1]?.credential).toBe('secret-1');
    expect(h.calls()).toBe(1);
    h.advance(360_000); // 56 min: 4 min left
    expect((await h.source())[1]?.credential).toBe('secret-2');
    expect(h.calls()).toBe(2);
  });

  it('shares one fetch between connections made at the same time', async () => {
    const h = harness([() => turn(1_000_000 + 3600)]);
    await Promise.all([h.source(), h.source(), h.source()]);
    expect(h.calls()).toBe(1);
  });

  it('keeps a still-valid list when a refresh fails, falls back to STUN once it has expired, and retries later', async () => {
    const t0 = 1_000_000;
    const h = harness([
      () => turn(t0 + 600, 1),
      () => {
        throw new Error('signaling server down');
      },
    ]);
    expect((await h.source())[1]?.credential).toBe('secret-1');
    h.advance(400_000); // within the refresh margin, credential still valid
    expect((await h.source())[1]?.credential).toBe('secret-1');
    expect(h.errors).toEqual(['signaling server down']);
    h.advance(10_000); // before the retry delay: no new fetch
    await h.source();
    expect(h.calls()).toBe(2);
    h.advance(300_000); // expired, the retry fails again: STUN only, never a dead credential
    expect(await h.source()).toEqual(STUN);
    expect(h.calls()).toBe(3);
  });

  it('asks again hourly when the server offers no TURN', async () => {
    const h = harness([() => STUN, () => turn(1_000_000 + 7200)]);
    await h.source();
    h.advance(59 * 60_000);
    expect(await h.source()).toEqual(STUN);
    h.advance(2 * 60_000);
    expect(await h.source()).toHaveLength(2);
  });
});

describe('fetchPresence', () => {
  async function device(): Promise<DeviceIdentity> {
    const identity = await createIdentity(false);
    return { ...identity, fleetId: 'f'.repeat(52), fleetPub: 'fleet-pub', cert: { body: { fleet: 'f'.repeat(52) } } as unknown as DeviceIdentity['cert'] };
  }
  function server(answer: (credential: string, n: number) => Response) {
    const seen: string[] = [];
    vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
      const credential = String((init.headers as Record<string, string>)['authorization']).replace('Flotilla ', '');
      seen.push(credential);
      return answer(credential, seen.length);
    });
    return seen;
  }
  const ok = () => new Response(JSON.stringify({ agents: [{ id: 'a'.repeat(52), online: true, lastSeen: 1 }] }), { status: 200 });
  afterEach(() => vi.unstubAllGlobals());

  it('signs one credential and reuses it for a minute, then signs a new one', async () => {
    const dev = await device();
    const seen = server(ok);
    let clock = 1_000_000;
    expect(await fetchPresence('http://signal/', dev, () => clock)).toEqual([{ id: 'a'.repeat(52), online: true, lastSeen: 1 }]);
    clock += PRESENCE_CREDENTIAL_REUSE_MS - 1;
    await fetchPresence('http://signal/', dev, () => clock);
    expect(seen[1]).toBe(seen[0]);
    clock += 1;
    await fetchPresence('http://signal/', dev, () => clock);
    expect(seen[2]).not.toBe(seen[0]);
  });

  it('signs afresh once when the server refuses a reused credential as stale', async () => {
    const dev = await device();
    const refused = new Set<string>();
    const seen = server((credential, n) => {
      if (n === 2) refused.add(credential);
      return refused.has(credential) ? new Response(JSON.stringify({ error: { code: 'bad-token', message: 'credential is stale' } }), { status: 401 }) : ok();
    });
    await fetchPresence('http://signal/', dev);
    await fetchPresence('http://signal/', dev);
    expect(seen).toHaveLength(3);
    expect(seen[2]).not.toBe(seen[1]);
    // A fresh credential refused is the answer, not retried.
    server(() => new Response(JSON.stringify({ error: { code: 'bad-token', message: 'no' } }), { status: 401 }));
    const other = await device();
    await expect(fetchPresence('http://signal/', other)).rejects.toMatchObject({ code: 'bad-token' });
  });
});
