// The push channel's message and its bounds, and the sender's choices (which subscriptions, what
// is retried, a gone one never again) against a relay function standing in for the signaling
// server; the message each subscription gets is decrypted with that subscription's private key.

import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PushSubDoc } from '../../../shared/push/subscription.ts';
import type { RelayAnswer } from '../../../shared/push/relay.ts';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { decryptPush, subscriber, type Subscriber } from '../../../e2e/webpush-receiver.ts';
import type { KeptDoc } from '../mailbox.ts';
import type { AlertMessage } from './notify.ts';
import { createPushSender, encodePushMessage, MAX_PUSH_MESSAGE_BYTES, pushMessage, pushTopic, type RelayMessage } from './push.ts';
import { diskRule } from './test-support.ts';

const HOST = 'h'.repeat(52);
const rule = diskRule({ channels: ['phones'], summary: 'Root filesystem over 90 %' });
const firing: AlertMessage = { event: 'firing', rule, host: { id: HOST, hostname: 'db-1' }, value: 93.456, since: 1000, at: 61_000 };
const fast = { attempts: 3, baseMs: 5, timeoutMs: 1000 };
const silent = () => undefined;

describe('the push message', () => {
  it('names the alert, its state and the host page, as the service worker reads it', () => {
    expect(pushMessage(firing)).toEqual({
      title: 'Firing: disk-full on db-1',
      body: 'fs:/:used_pct = 93.46 (> 90 for 60s), critical. Root filesystem over 90 %',
      tag: `disk-full/${HOST}`,
      url: `#/hosts/${HOST}`,
      severity: 'critical',
      state: 'firing',
      at: 61_000,
    });
    expect(pushMessage({ ...firing, event: 'resolved', value: 12 })).toMatchObject({ title: 'Resolved: disk-full on db-1', state: 'resolved' });
    expect(pushMessage({ ...firing, event: 'repeat' })).toMatchObject({ title: 'Still firing: disk-full on db-1', state: 'firing' });
    expect(pushMessage({ ...firing, value: undefined }).body).toMatch(/^fs:\/:used_pct = no value/);
  });

  it('stays under 3 KiB of JSON whatever the hostname and summary hold, without control characters or half a surrogate pair', () => {
    const hostile: AlertMessage = {
      ...firing,
      host: { id: HOST, hostname: '\u0001"\\😀'.repeat(3000) },
      rule: { ...rule, summary: '\u0000\u001b[31m"😀'.repeat(1000) },
    };
    const m = pushMessage(hostile);
    expect(m.title.length).toBeLessThanOrEqual(120);
    expect(m.body.length).toBeLessThanOrEqual(500);
    for (const text of [m.title, m.body]) {
      expect(text).not.toMatch(/[\u0000-\u001f]/);
      expect(text).not.toMatch(/[\ud800-\udbff]$/);
    }
    const json = encodePushMessage(m);
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_PUSH_MESSAGE_BYTES);
    expect(JSON.parse(json)).toEqual(m);
    // A message built by hand past the bound is cut, body first, to fit.
    const big = encodePushMessage({ ...m, body: '"'.repeat(2000), title: '\\'.repeat(120) });
    expect(Buffer.byteLength(big)).toBeLessThanOrEqual(MAX_PUSH_MESSAGE_BYTES);
    expect((JSON.parse(big) as { title: string }).title).toBe('\\'.repeat(120));
  });

  it('gives each alert one topic per subscription, keyed so the relay cannot test guesses of rule names', () => {
    const auth = subscriber('http://127.0.0.1:9/x').json.keys.auth;
    const topic = pushTopic('disk-full', HOST, auth);
    expect(topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(pushTopic('disk-full', HOST, auth)).toBe(topic);
    expect(pushTopic('disk-full', 'k'.repeat(52), auth)).not.toBe(topic);
    expect(pushTopic('disk-full', HOST, subscriber('http://127.0.0.1:9/y').json.keys.auth)).not.toBe(topic);
  });
});

/** A device's pushsub document as the mailbox keeps it. */
function sub(device: string, name: string, s: Subscriber, extra: Partial<PushSubDoc> = {}, signer = device): KeptDoc<PushSubDoc> {
  return {
    rid: `dp.${device}`,
    version: 1,
    payload: { type: 'pushsub', device, subscription: s.json, deleted: false, at: 1, ...extra },
    signer: { id: signer, role: 'operator', name },
  };
}

const dev = (c: string) => c.repeat(52);

describe('the push sender', () => {
  it('encrypts for each subscribed device and skips deleted ones, forged ones and devices not named', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => subscriber(`http://127.0.0.1:9/push/${x}`)) as [Subscriber, Subscriber, Subscriber, Subscriber];
    const docs = [
      sub(dev('a'), 'alice-phone', a),
      sub(dev('b'), 'bob-laptop', b),
      sub(dev('c'), 'carol', c, { deleted: true }),
      sub(dev('d'), 'mallory', d, {}, dev('e')), // written by another device than the one it names
    ];
    const relayed: RelayMessage[] = [];
    const relay = async (m: RelayMessage): Promise<RelayAnswer> => (relayed.push(m), { status: 201, accepted: true, gone: false });
    const sender = createPushSender({ subscriptions: () => docs, relay, log: silent });

    expect(await sender.deliver({ devices: [] }, firing, fast)).toEqual({ ok: true, attempts: 1 });
    expect(relayed.map((m) => m.endpoint).sort()).toEqual([a.json.endpoint, b.json.endpoint]);
    const plain = JSON.parse(decryptPush(Buffer.from(relayed.find((m) => m.endpoint === a.json.endpoint)!.body), a)) as { title: string };
    expect(plain.title).toBe('Firing: disk-full on db-1');
    expect(relayed.find((m) => m.endpoint === a.json.endpoint)).toMatchObject({ urgency: 'high', topic: pushTopic('disk-full', HOST, a.json.keys.auth) });

    relayed.length = 0;
    await sender.deliver({ devices: ['bob-laptop'] }, { ...firing, rule: { ...rule, severity: 'warning' } }, fast);
    expect(relayed.map((m) => [m.endpoint, m.urgency])).toEqual([[b.json.endpoint, 'normal']]);
    relayed.length = 0;
    await sender.deliver({ devices: [dev('a')] }, firing, fast);
    expect(relayed.map((m) => m.endpoint)).toEqual([a.json.endpoint]);
    expect(await sender.deliver({ devices: ['nobody'] }, firing, fast)).toEqual({
      ok: false,
      attempts: 0,
      error: 'no device among nobody has turned on alert notifications',
    });
  });

  it('retries what may pass later, not what will not, and never tries a gone subscription again', async () => {
    const s = subscriber('http://127.0.0.1:9/push/x');
    const logs: string[] = [];
    let answers: (RelayAnswer | FlotillaError)[] = [];
    let calls = 0;
    const relay = async (): Promise<RelayAnswer> => {
      calls++;
      const next = answers.shift() ?? { status: 201, accepted: true, gone: false };
      if (next instanceof FlotillaError) throw next;
      return next;
    };
    const sender = createPushSender({ subscriptions: () => [sub(dev('a'), 'alice', s)], relay, log: (_l, event) => logs.push(event) });

    answers = [{ status: 503, accepted: false, gone: false }, new FlotillaError('rate-limited', 'slow down')];
    expect(await sender.deliver({ devices: [] }, firing, fast)).toEqual({ ok: true, attempts: 3 });
    answers = [new FlotillaError('bad-message', 'endpoint: not a push service')];
    calls = 0;
    expect(await sender.deliver({ devices: [] }, firing, fast)).toMatchObject({
      ok: false,
      attempts: 1,
      error: '1 of 1 devices not reached: endpoint: not a push service',
    });
    answers = [{ status: 410, accepted: false, gone: true }];
    calls = 0;
    expect(await sender.deliver({ devices: [] }, firing, fast)).toMatchObject({ ok: false, attempts: 1, error: expect.stringMatching(/is gone/) as unknown });
    expect(calls).toBe(1);
    expect(logs).toEqual(['alert-push-gone']);
    expect(await sender.deliver({ devices: [] }, firing, fast)).toMatchObject({ ok: false, attempts: 0, error: 'no device has turned on alert notifications' });
    expect(calls).toBe(1);
  });

  it('says so when the agent has no relay, the store has not accepted it, or the server has no relay (not retried)', async () => {
    const s = subscriber('http://127.0.0.1:9/push/x');
    const none = createPushSender({ subscriptions: () => [sub(dev('a'), 'alice', s)], log: silent });
    expect(await none.deliver({ devices: [] }, firing, fast)).toMatchObject({ ok: false, error: expect.stringMatching(/no Web Push relay/) as unknown });
    const refused = createPushSender({
      subscriptions: () => [sub(dev('a'), 'alice', s)],
      relay: () => Promise.reject(new FlotillaError('bad-config', 'this host is not accepted yet')),
      log: silent,
    });
    expect(await refused.deliver({ devices: [] }, firing, fast)).toMatchObject({
      ok: false,
      attempts: 1,
      error: expect.stringMatching(/not accepted yet/) as unknown,
    });
    let calls = 0;
    const old = createPushSender({
      subscriptions: () => [sub(dev('a'), 'alice', s)],
      relay: () => (calls++, Promise.reject(new FlotillaError('signaling-failed', 'this signaling server has no Web Push relay (upgrade it)'))),
      log: silent,
    });
    expect(await old.deliver({ devices: [] }, firing, fast)).toMatchObject({ ok: false, attempts: 1, error: expect.stringMatching(/upgrade it/) as unknown });
    expect(calls).toBe(1);
  });

  it('remembers a gone subscription across restarts in the state directory, and starts afresh from a damaged file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-push-gone-'));
    try {
      const goneFile = join(dir, 'alerts', 'push-gone.json');
      const s = subscriber('http://127.0.0.1:9/push/x');
      let calls = 0;
      const relay = async (): Promise<RelayAnswer> => (calls++, { status: 410, accepted: false, gone: true });
      const subscriptions = () => [sub(dev('a'), 'alice', s)];
      expect(await createPushSender({ subscriptions, relay, log: silent, goneFile }).deliver({ devices: [] }, firing, fast)).toMatchObject({ ok: false });
      expect(calls).toBe(1);
      expect(await readFile(goneFile, 'utf8')).not.toContain('127.0.0.1'); // hashes, not endpoints
      const restarted = createPushSender({ subscriptions, relay, log: silent, goneFile });
      expect(await restarted.deliver({ devices: [] }, firing, fast)).toMatchObject({ ok: false, attempts: 0 });
      expect(calls).toBe(1);

      await writeFile(goneFile, '{ not json');
      const logs: string[] = [];
      const fresh = createPushSender({ subscriptions, relay, log: (_l, event) => logs.push(event), goneFile });
      expect(await fresh.deliver({ devices: [] }, firing, fast)).toMatchObject({ ok: false, attempts: 1 });
      expect(logs).toEqual(['alert-push-gone-unreadable', 'alert-push-gone']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
