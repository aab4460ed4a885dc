// TURN credentials (coturn's shared-secret REST scheme) and who gets them from /api/ice.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeys } from '../../shared/identity/crypto.ts';
import type { DeviceIdentity, Identity } from '../../shared/identity/fleet.ts';
import { fetchIceServers } from '../../shared/controller/signal-api.ts';
import { parseSignalArgs } from './main.ts';
import { api, cleanUp, forge, makeCast, presenceCredential, register, start } from './test-support.ts';
import { checkTurnUrl, issueTurnCredential, parseTurnSecret, turnPassword, type TurnOptions } from './turn.ts';

const SECRET = 'north-wind-secret-1234';
const TURN: TurnOptions = { secret: SECRET, urls: ['turn:198.51.100.7:3478?transport=udp', 'turn:198.51.100.7:3478?transport=tcp'], ttlS: 600 };

let fleet: DeviceIdentity;
let agent: Identity;

beforeAll(async () => {
  ({ fleet, agent } = await makeCast());
});
afterEach(cleanUp);

/** The password computed independently, by OpenSSL, as coturn's docs do it. */
function opensslPassword(secret: string, username: string): string {
  const mac = execFileSync('openssl', ['dgst', '-sha1', '-hmac', secret, '-binary'], { input: username });
  return mac.toString('base64');
}

describe('TURN REST credentials', () => {
  it('match a fixed vector and OpenSSL for several usernames', async () => {
    // Fixed vector: printf '%s' '1700000000:abc' | openssl dgst -sha1 -hmac north-wind-secret-1234 -binary | base64
    expect(await turnPassword(SECRET, '1700000000:abc')).toBe('8IMnfcB6WgoZUMJqWv75IHm+J4Y=');
    for (const username of ['1700000000:abc', `1999999999:${agent.id}`, '1:x']) {
      expect(await turnPassword(SECRET, username)).toBe(opensslPassword(SECRET, username));
    }
    expect(await turnPassword('another-secret-xxxx', '1:x')).not.toBe(await turnPassword(SECRET, '1:x'));
  });

  it('put the expiry (now + ttl, unix seconds) and the peer id in the username', async () => {
    const now = Date.UTC(2030, 0, 1, 12, 0, 0, 999);
    const issued = await issueTurnCredential(TURN, agent.id, now);
    expect(issued.expiresAt).toBe(Math.floor(now / 1000) + 600);
    expect(issued.username).toBe(`${issued.expiresAt}:${agent.id}`);
    expect(issued.credential).toBe(opensslPassword(SECRET, issued.username));
    expect(issued.urls).toEqual(TURN.urls);
    const defaultTtl = await issueTurnCredential({ secret: SECRET, urls: TURN.urls }, agent.id, now);
    expect(defaultTtl.expiresAt).toBe(Math.floor(now / 1000) + 3600);
  });

  it('refuse malformed URLs and empty or short secrets', () => {
    expect(checkTurnUrl('turns:turn.example.org:5349?transport=tcp')).toBe('turns:turn.example.org:5349?transport=tcp');
    expect(() => checkTurnUrl('stun:x:3478')).toThrow(/--turn-url/);
    expect(() => checkTurnUrl('turn:x:3478?transport=sctp')).toThrow(/--turn-url/);
    expect(parseTurnSecret('\n  0123456789abcdef0123 \nignored\n', 'f')).toBe('0123456789abcdef0123');
    expect(() => parseTurnSecret('\n\n', 'f')).toThrow(/empty/);
    expect(() => parseTurnSecret('short', 'f')).toThrow(/shorter/);
  });
});

describe('/api/ice', () => {
  const turnEntry = (body: Record<string, unknown>) =>
    (body['iceServers'] as { urls: unknown; username?: string; credential?: string }[]).find((s) => s.username !== undefined);

  it('hands TURN credentials to an authenticated agent or device and STUN only to anyone else', async () => {
    const { server, logs } = await start({ turn: TURN });
    const anonymous = await api(server, '/api/ice');
    expect(anonymous.status).toBe(200);
    expect(anonymous.body['iceServers']).toEqual([{ urls: expect.stringMatching(/^stun:127\.0\.0\.1:\d+$/) }]);

    const before = Math.floor(Date.now() / 1000);
    const asAgent = await api(server, '/api/ice', { headers: { authorization: `Flotilla ${await register(agent, fleet.fleetId)}` } });
    expect(asAgent.status).toBe(200);
    const entry = turnEntry(asAgent.body);
    expect(entry).toMatchObject({ urls: TURN.urls, username: expect.stringMatching(new RegExp(`^\\d+:${agent.id}$`)) });
    const expiry = Number(entry?.username?.split(':')[0]);
    expect(expiry).toBeGreaterThanOrEqual(before + 600);
    expect(expiry).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);
    expect(entry?.credential).toBe(opensslPassword(SECRET, entry?.username ?? ''));
    expect(logs.join('\n')).toContain('"event":"ice.turn-issued"');
    expect(logs.join('\n')).not.toContain(entry?.credential ?? 'no-credential');

    // The shared client sends a register credential for a device.
    const forDevice = await fetchIceServers(server.url, { keys: fleet.keys, pub: fleet.pub, kind: 'device', fleet: fleet.fleetId });
    expect(forDevice.find((s) => s.username?.endsWith(`:${fleet.id}`))).toMatchObject({ urls: TURN.urls });
    const withoutIdentity = await fetchIceServers(server.url);
    expect(withoutIdentity.every((s) => s.username === undefined && s.credential === undefined)).toBe(true);
  });

  it('gives no TURN for forged, stale, wrong-purpose or malformed credentials', async () => {
    const { server, logs } = await start({ turn: TURN });
    const rogue = await generateSigningKeys(true);
    const headers = [
      `Flotilla ${await forge(await register(agent, fleet.fleetId), rogue.privateKey)}`,
      `Flotilla ${await register(agent, fleet.fleetId, 'agent', Date.now() - 3_600_000)}`,
      `Flotilla ${await presenceCredential(fleet)}`,
      'Flotilla not-a-credential',
      'Bearer something',
    ];
    for (const authorization of headers) {
      const answer = await api(server, '/api/ice', { headers: { authorization } });
      expect(answer.status).toBe(200);
      expect(turnEntry(answer.body)).toBeUndefined();
      expect(answer.body['iceServers']).toHaveLength(1);
    }
    expect(logs.filter((l) => l.includes('"event":"ice.turn-refused"'))).toHaveLength(headers.length);
  });

  it('offers STUN only when no TURN relay is configured, credential or not', async () => {
    const { server } = await start();
    const answer = await api(server, '/api/ice', { headers: { authorization: `Flotilla ${await register(agent, fleet.fleetId)}` } });
    expect(answer).toMatchObject({ status: 200, body: { iceServers: [{ urls: expect.stringMatching(/^stun:/) }] } });
    expect(answer.body['iceServers']).toHaveLength(1);
  });
});

describe('flotilla-signal TURN flags', () => {
  it('reads the secret file, repeated URLs, the TTL and the environment fallbacks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-turn-'));
    try {
      const file = join(dir, 'secret');
      writeFileSync(file, `${SECRET}\n`);
      const args = parseSignalArgs(['--turn-secret-file', file, '--turn-url', TURN.urls[0]!, '--turn-url', TURN.urls[1]!, '--turn-ttl', '900'], {});
      expect(args).toMatchObject({ options: { turn: { secret: SECRET, urls: TURN.urls, ttlS: 900 } } });
      const fromEnv = parseSignalArgs([], { FLOTILLA_SIGNAL_TURN_SECRET_FILE: file, FLOTILLA_SIGNAL_TURN_URL: TURN.urls.join(' ') });
      expect(fromEnv).toMatchObject({ options: { turn: { secret: SECRET, urls: TURN.urls, ttlS: 3600 } } });
      expect(parseSignalArgs([], {})).not.toHaveProperty('options.turn');
      expect(() => parseSignalArgs(['--turn-url', TURN.urls[0]!], {})).toThrow(/--turn-secret-file/);
      expect(() => parseSignalArgs(['--turn-secret-file', file], {})).toThrow(/--turn-url/);
      expect(() => parseSignalArgs(['--turn-secret-file', join(dir, 'missing'), '--turn-url', TURN.urls[0]!], {})).toThrow(/cannot read/);
      expect(() => parseSignalArgs(['--turn-secret-file', file, '--turn-url', TURN.urls[0]!, '--turn-ttl', '5'], {})).toThrow(/--turn-ttl/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
