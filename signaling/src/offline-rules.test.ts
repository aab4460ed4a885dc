// Offline rules on the signaling server: the evaluation against a presence table with an injected
// clock and a real local HTTP receiver (signatures checked with node:crypto), the state file kept
// across a restart, and the API on a real server: admin only, one fleet's rules invisible to
// another, bad input refused in one sentence.

import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addDevice, type DeviceIdentity } from '../../shared/identity/fleet.ts';
import { createLogger, silentLogger } from './log.ts';
import { checkWebhookUrl, createOfflineRules, type OfflineRule } from './offline-rules.ts';
import { createPresence } from './presence.ts';
import { api, cleanUp, makeCast, presenceCredential, start, type Cast } from './test-support.ts';

const FLEET = 'a'.repeat(52);
const HOST = 'b'.repeat(52);
const HOST2 = 'c'.repeat(52);
const SECRET = 'receiver-secret';

let receiver: Server;
let hookUrl: string;
const received: { headers: IncomingHttpHeaders; body: string }[] = [];
let answer = 200;
let dir: string;
let cast: Cast;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(answer).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  dir = await mkdtemp(join(tmpdir(), 'offline-rules-'));
  cast = await makeCast();
}, 60_000);

afterAll(async () => {
  await new Promise<void>((r) => receiver.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  received.length = 0;
  answer = 200;
  await cleanUp();
});

const rule = (over: Partial<OfflineRule> = {}): OfflineRule => ({
  name: 'hosts-down',
  hosts: [HOST],
  minutes: 2,
  webhook: { url: hookUrl, format: 'generic', secret: SECRET },
  by: 'd'.repeat(52),
  at: 0,
  ...over,
});

function signatureOk(r: { headers: IncomingHttpHeaders; body: string }): boolean {
  const t = String(r.headers['x-flotilla-timestamp']);
  return r.headers['x-flotilla-signature'] === `sha256=${createHmac('sha256', SECRET).update(`${t}.${r.body}`).digest('hex')}`;
}

describe('evaluation', () => {
  it('fires once a listed host is offline longer than the rule, once, and resolves when it returns', async () => {
    let t = 1_000_000;
    const presence = createPresence({ maxTrackedAgents: 100, now: () => t });
    presence.connected(HOST, FLEET);
    const rules = await createOfflineRules({ presence, log: silentLogger, allowLoopback: true, now: () => t, checkEveryMs: 3_600_000, dataDir: dir });
    rules.save(FLEET, rule({ at: t }));
    presence.disconnected(HOST);
    t += 119_000;
    rules.check();
    await rules.idle();
    expect(received).toHaveLength(0);
    t += 2_000;
    rules.check();
    rules.check();
    await rules.idle();
    expect(received).toHaveLength(1);
    const fired = JSON.parse(received[0]!.body) as Record<string, unknown>;
    expect(fired).toMatchObject({ event: 'firing', kind: 'offline', rule: 'hosts-down', host: { id: HOST }, minutes: 2, since: 1_000_000 });
    expect(signatureOk(received[0]!)).toBe(true);
    expect(rules.list(FLEET)[0]?.firing).toEqual([{ host: HOST, since: 1_000_000, firedAt: t }]);

    presence.connected(HOST, FLEET);
    t += 1_000;
    rules.check();
    await rules.idle();
    expect(received).toHaveLength(2);
    expect(JSON.parse(received[1]!.body)).toMatchObject({ event: 'resolved', status: 'resolved', host: { id: HOST } });
    expect(signatureOk(received[1]!)).toBe(true);
    await rules.close();
  });

  it('keeps a firing alert across a restart without notifying again, in a 0600 file', async () => {
    let t = 5_000_000;
    const sub = await mkdtemp(join(dir, 'restart-'));
    const presence = createPresence({ maxTrackedAgents: 100, now: () => t });
    const first = await createOfflineRules({ presence, log: silentLogger, allowLoopback: true, now: () => t, checkEveryMs: 3_600_000, dataDir: sub });
    first.save(FLEET, rule({ at: t, hosts: [HOST, HOST2], minutes: 1 }));
    t += 61_000;
    first.check();
    await first.idle();
    await first.close();
    expect(received.map((r) => (JSON.parse(r.body) as { host: { id: string } }).host.id).sort()).toEqual([HOST, HOST2]);
    expect((await stat(join(sub, 'offline-rules.json'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(sub, 'offline-rules.json'), 'utf8')).toContain(SECRET);

    t += 60_000;
    const again = await createOfflineRules({ presence, log: silentLogger, allowLoopback: true, now: () => t, checkEveryMs: 3_600_000, dataDir: sub });
    again.check();
    await again.idle();
    expect(received).toHaveLength(2);
    presence.connected(HOST2, FLEET);
    again.check();
    await again.idle();
    expect(received).toHaveLength(3);
    expect(JSON.parse(received[2]!.body)).toMatchObject({ event: 'resolved', host: { id: HOST2 } });
    await again.close();
  });

  it('retries a failing receiver with backoff, and gives up at once on a 4xx', async () => {
    let t = 0;
    const logs: string[] = [];
    const presence = createPresence({ maxTrackedAgents: 100, now: () => t });
    const log = createLogger({ level: 'debug', write: (line) => logs.push(line) });
    const retry = { attempts: 3, baseMs: 10, timeoutMs: 5_000 };
    const rules = await createOfflineRules({ presence, log, allowLoopback: true, now: () => t, checkEveryMs: 3_600_000, retry });
    rules.save(FLEET, rule({ minutes: 1 }));
    answer = 503;
    t += 60_000;
    rules.check();
    await rules.idle();
    expect(received).toHaveLength(3);
    expect(logs.join('\n')).toMatch(/"event":"offline.notify-failed".*"attempts":3/);
    received.length = 0;
    answer = 404;
    rules.save(FLEET, rule({ name: 'other', minutes: 1 }));
    rules.check();
    await rules.idle();
    expect(received).toHaveLength(1);
    await rules.close();
  });

  it('refuses webhooks to loopback unless allowed, and other schemes always', () => {
    expect(() => checkWebhookUrl('http://127.0.0.1:9000/x', false)).toThrow(/loopback/);
    expect(() => checkWebhookUrl('http://localhost/x', false)).toThrow(/loopback/);
    expect(() => checkWebhookUrl('http://[::1]/x', false)).toThrow(/loopback/);
    expect(() => checkWebhookUrl('file:///etc/passwd', true)).toThrow(/not http/);
    expect(() => checkWebhookUrl('https://u:p@hooks.example.com/x', false)).toThrow(/secret/);
    expect(checkWebhookUrl('https://hooks.example.com/x', false)).toBe('https://hooks.example.com/x');
    expect(checkWebhookUrl('http://127.0.0.1:9000/x', true)).toBe('http://127.0.0.1:9000/x');
  });

  it('refuses to deliver to a name that resolves to loopback when loopback is not allowed', async () => {
    let t = 0;
    const logs: string[] = [];
    const presence = createPresence({ maxTrackedAgents: 100, now: () => t });
    const log = createLogger({ level: 'debug', write: (line) => logs.push(line) });
    const rules = await createOfflineRules({ presence, log, now: () => t, checkEveryMs: 3_600_000 });
    // Saved as if allowed (the check at save time is the route's): the guard at connect time still refuses.
    const port = (receiver.address() as { port: number }).port;
    rules.save(FLEET, rule({ minutes: 1, webhook: { url: `http://localhost:${port}/hook`, format: 'generic' } }));
    t += 60_000;
    rules.check();
    await rules.idle();
    expect(received).toHaveLength(0);
    expect(logs.join('\n')).toMatch(/"event":"offline.notify-failed".*"attempts":1.*may not reach/);
    await rules.close();
  });
});

describe('API', () => {
  const put = (url: string, credential: string, name: string, body: unknown) =>
    fetch(new URL(`/api/offline-rules/${name}`, url), {
      method: 'PUT',
      headers: { authorization: `Flotilla ${credential}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
  const body = { hosts: [HOST], minutes: 10, webhook: { url: 'https://hooks.example.com/x', secret: SECRET } };
  let operator: DeviceIdentity;
  let viewer: DeviceIdentity;

  beforeAll(async () => {
    [operator, viewer] = await Promise.all([addDevice(cast.fleet, 'ops', 'operator'), addDevice(cast.fleet, 'phone', 'viewer')]);
  }, 60_000);

  it('lets only admin devices save, list and remove, each fleet seeing its own rules', async () => {
    const { server } = await start();
    const admin = await presenceCredential(cast.fleet);
    const saved = await put(server.url, admin, 'web-down', body);
    expect(saved).toMatchObject({
      status: 200,
      body: { saved: { name: 'web-down', hosts: [HOST], minutes: 10, webhook: { format: 'generic', secret: '***' } } },
    });

    for (const device of [operator, viewer]) {
      const credential = await presenceCredential(device);
      expect(await put(server.url, credential, 'mine', body)).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect(await api(server, '/api/offline-rules', { headers: { authorization: `Flotilla ${credential}` } })).toMatchObject({ status: 403 });
    }
    const listed = await api(server, '/api/offline-rules', { headers: { authorization: `Flotilla ${admin}` } });
    expect(listed).toMatchObject({ status: 200, body: { fleet: cast.fleet.fleetId } });
    expect((listed.body['rules'] as { name: string; webhook: { secret: string } }[]).map((r) => [r.name, r.webhook.secret])).toEqual([['web-down', '***']]);

    const other = await presenceCredential(cast.otherFleet);
    expect(await api(server, '/api/offline-rules', { headers: { authorization: `Flotilla ${other}` } })).toMatchObject({ status: 200, body: { rules: [] } });
    const gone = await api(server, '/api/offline-rules/web-down', { method: 'DELETE', headers: { authorization: `Flotilla ${other}` } });
    expect(gone).toMatchObject({ status: 404, body: { error: { code: 'no-match' } } });
    expect(await api(server, '/api/offline-rules/web-down', { method: 'DELETE', headers: { authorization: `Flotilla ${admin}` } })).toMatchObject({
      status: 200,
      body: { removed: 'web-down' },
    });
    expect(await api(server, '/api/offline-rules', { headers: { authorization: `Flotilla ${admin}` } })).toMatchObject({ body: { rules: [] } });
  });

  it('refuses bad rules in one sentence, and loopback webhooks without the flag', async () => {
    const { server } = await start();
    const admin = await presenceCredential(cast.fleet);
    const cases: [unknown, RegExp][] = [
      [{ ...body, hosts: [] }, /at least one host/],
      [{ ...body, hosts: ['web-1'] }, /not a host id/],
      [{ ...body, minutes: 0 }, /minutes/],
      [{ ...body, webhook: { url: 'ftp://x/y' } }, /not http/],
      [{ ...body, webhook: { url: 'http://127.0.0.1:1/x' } }, /loopback/],
      [{ ...body, webhook: { url: 'https://x.example/y', format: 'teams' } }, /format/],
      [{ ...body, hosts: Array.from({ length: 1001 }, (_, i) => String(i)) }, /more than 1000/],
    ];
    for (const [input, message] of cases) {
      const answer = await put(server.url, admin, 'bad', input);
      expect(answer.status).toBe(400);
      expect((answer.body['error'] as { message: string }).message).toMatch(message);
    }
    expect((await put(server.url, admin, 'no spaces', body)).status).toBe(400);
    for (let i = 0; i < 20; i++) expect((await put(server.url, admin, `r${i}`, body)).status).toBe(200);
    expect(await put(server.url, admin, 'r20', body)).toMatchObject({ status: 413, body: { error: { code: 'quota' } } });
    expect((await put(server.url, admin, 'r3', body)).status).toBe(200); // replacing one is not a new rule
  });
});
