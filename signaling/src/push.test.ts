// The Web Push relay against a local HTTP endpoint standing in for a browser's push service: an
// accepted agent encrypts a message for a subscription (RFC 8291) and hands it to the real
// server, which forwards it with a VAPID signature. The test, holding the subscription's private
// key, decrypts what arrived with its own RFC 8291 code (node:crypto, not the library that
// encrypted) and checks the VAPID JWT against the server's public key.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceIdentity, Identity } from '../../shared/identity/fleet.ts';
import { issueHostCert } from '../../shared/identity/certs.ts';
import { relayPush } from '../../shared/push/relay.ts';
import type { StoreMember } from '../../shared/store/client.ts';
import { encryptPush } from '../../node/web-push.ts';
import { checkVapid, decryptPush as decrypt, startPushService, subscriber } from '../../e2e/webpush-receiver.ts';
import { api, cleanUp, makeCast, onCleanup, start } from './test-support.ts';
import { checkEndpoint } from './push.ts';

/** A stand-in push service on loopback (e2e/webpush-receiver.ts), closed after the test. */
async function pushService(status = 201) {
  const service = await startPushService(status);
  onCleanup(service.close);
  return service;
}

let fleet: DeviceIdentity;
let host: Identity;
let agent: StoreMember;

beforeAll(async () => {
  ({ fleet, agent: host } = await makeCast());
  const cert = await issueHostCert(fleet.fleetKeys!.privateKey, fleet.fleetId, host.pub, fleet.id);
  agent = { id: host.id, keys: host.keys, pub: host.pub, kind: 'agent', fleetId: fleet.fleetId, fleetPub: fleet.fleetPub, cert };
}, 60_000);
afterEach(cleanUp);

describe('the Web Push relay', () => {
  it('forwards what an agent encrypted, with a VAPID signature; only the subscription can read it', async () => {
    const { server } = await start({ push: { allowLoopback: true, subject: 'mailto:ops@example.org' } });
    const service = await pushService();
    const sub = subscriber(`${service.url}/push/abc123`);
    const message = JSON.stringify({ title: 'disk / over 90 % on web-1', body: 'fs:/:used_pct 93.4 > 90 for 1m', tag: 'disk-full/web-1' });
    const body = await encryptPush(sub.json, message);
    expect(Buffer.from(body).includes(Buffer.from('web-1'))).toBe(false); // ciphertext, not the text

    const answer = await relayPush(server.url, agent, { endpoint: sub.json.endpoint, body, ttl: 600, urgency: 'high', topic: 'disk-full' });
    expect(answer).toEqual({ status: 201, accepted: true, gone: false });
    expect(service.got).toHaveLength(1);
    const [got] = service.got;
    expect(got!.headers['content-encoding']).toBe('aes128gcm');
    expect(got!.headers['ttl']).toBe('600');
    expect(got!.headers['urgency']).toBe('high');
    expect(got!.headers['topic']).toBe('disk-full');
    expect(decrypt(got!.body, sub)).toBe(message);
    const { key, claims } = checkVapid(String(got!.headers['authorization']), service.url);
    expect(claims['sub']).toBe('mailto:ops@example.org');
    expect(Number(claims['exp']) * 1000).toBeGreaterThan(Date.now());
    expect(Number(claims['exp']) * 1000).toBeLessThanOrEqual(Date.now() + 24 * 3_600_000 + 60_000);
    // The key browsers subscribe with is the one that signed.
    expect((await api(server, '/api/push/key')).body).toEqual({ publicKey: key });
  });

  it('says when a subscription is gone, and refuses strangers, plaintext and non-push endpoints', async () => {
    const { server } = await start({ push: { allowLoopback: true } });
    const service = await pushService(410);
    const sub = subscriber(`${service.url}/push/gone`);
    const body = await encryptPush(sub.json, 'hello');
    expect(await relayPush(server.url, agent, { endpoint: sub.json.endpoint, body })).toEqual({ status: 410, accepted: false, gone: true });

    const post = (payload: object, auth?: string) =>
      api(server, '/api/push', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(auth ? { Authorization: auth } : {}) },
        body: JSON.stringify(payload),
      });
    const b64 = Buffer.from(body).toString('base64');
    expect((await post({ endpoint: sub.json.endpoint, payload: b64 })).status).toBe(401);
    await expect(relayPush(server.url, agent, { endpoint: sub.json.endpoint, body: new TextEncoder().encode('x'.repeat(200)) })).rejects.toThrow(
      /not an RFC 8291 aes128gcm message/,
    );
    await expect(relayPush(server.url, agent, { endpoint: 'http://10.0.0.1/push', body })).rejects.toThrow(/not a browser push service/);
    await expect(relayPush(server.url, agent, { endpoint: 'https://metadata.internal/latest', body })).rejects.toThrow(/not a browser push service/);
    expect(service.got).toHaveLength(1); // only the first, accepted call reached the service
  });

  it('forwards only to the browsers push services unless loopback is allowed', () => {
    expect(checkEndpoint('https://fcm.googleapis.com/fcm/send/abc', false).hostname).toBe('fcm.googleapis.com');
    expect(checkEndpoint('https://web.push.apple.com/QGx', false).hostname).toBe('web.push.apple.com');
    expect(checkEndpoint('https://updates.push.services.mozilla.com/wpush/v2/x', false).hostname).toBe('updates.push.services.mozilla.com');
    expect(() => checkEndpoint('http://127.0.0.1:9/x', false)).toThrow(/not a browser push service/);
    expect(() => checkEndpoint('https://fcm.googleapis.com.evil.example/x', false)).toThrow(/not a browser push service/);
    expect(() => checkEndpoint('https://user:pw@fcm.googleapis.com/x', false)).toThrow(/not a browser push service/);
    expect(checkEndpoint('http://127.0.0.1:9/x', true).port).toBe('9');
  });
});
