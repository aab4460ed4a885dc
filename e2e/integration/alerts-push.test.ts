// Alerts by Web Push end to end (issue 15): a real signaling server started with
// --push-allow-loopback, a real agent sampling every second, and three devices that turned
// notifications on in their PWA (their `pushsub` documents, written here as the PWA writes them)
// with endpoints on a loopback stand-in push service: one stays subscribed, one the service
// answers 410 (the browser unsubscribed), one wrote its document deleted. A rule on a small
// filesystem the test owns names a `push` channel; with nothing connected, filling it sends the
// subscribed device an aes128gcm message with a valid VAPID JWT, which the test decrypts with that
// subscription's private key (e2e/webpush-receiver.ts); emptying it sends a second one. The gone
// subscription is logged and not tried again, also after the agent restarts; the deleted one gets
// nothing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { cli, fillLoopFs, freePort, killAll, mountLoopFs, type Proc, removeDir, restartAgent, startAgent, startProc, tempDir } from '../harness.ts';
import { checkVapid, decryptPush, startPushService, subscriber, type PushService, type Subscriber } from '../webpush-receiver.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleetState } from '../../cli/src/fleet-state.ts';
import type { PushSubDoc } from '../../shared/push/subscription.ts';

let base: string;
let admin: string;
let agent: Proc & { id: string };
let agentDir: string;
let signal: Proc & { url: string };
let service: PushService;
let mount: string;
let mounted = false;
/** Subscribed and staying; answered 410; written deleted. */
let kept: Subscriber;
let gone: Subscriber;
let deleted: Subscriber;

const json = <T>(text: string): T => JSON.parse(text) as T;

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 45_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}\nagent log:\n${agent.output().slice(-3000)}\nsignal log:\n${signal.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Agent log events of one kind. */
function events(event: string): Record<string, unknown>[] {
  return agent
    .output()
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => json<Record<string, unknown>>(l.slice(l.indexOf('{'))));
}

/** What the PWA's "Alert notifications" switch writes: the device's subscription in the fleet store. */
async function subscribe(home: string, s: Subscriber, isDeleted = false): Promise<void> {
  const h = await openHome(home);
  const state = await openFleetState(h, () => undefined, { quiet: true });
  const doc: PushSubDoc = { type: 'pushsub', device: h.device.id, subscription: s.json, label: 'test browser', deleted: isDeleted, at: Date.now() };
  expect(await state.sync.write(doc, h.device.id)).toBe(true);
}

/** An operator device that has announced itself and been added to the fleet keyring by the admin. */
async function addDevice(name: string): Promise<string> {
  const home = join(base, name);
  expect((await cli(admin, ['device', 'add', name, '--home', home, '--role', 'operator'])).code).toBe(0);
  expect((await cli(home, ['alerts', 'rules'])).code).toBe(0); // announces itself
  return home;
}

const to = (s: Subscriber) => service.got.filter((r) => r.url === new URL(s.json.endpoint).pathname);

beforeAll(async () => {
  base = await tempDir('alerts-push');
  admin = join(base, 'admin');
  const port = await freePort();
  signal = Object.assign(
    startProc('flotilla-signal', [
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--stun-port',
      String(port),
      '--data-dir',
      join(base, 'signal'),
      '--push-allow-loopback',
    ]),
    { url: `http://127.0.0.1:${port}/` },
  );
  await signal.waitFor(/listening/i);
  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'ops-admin'])).code).toBe(0);
  const token = json<{ token: string }>((await cli(admin, ['token', 'create', '--json'])).stdout).token;

  // A filesystem the test owns, mounted before the agent starts (its sampler lists them at start).
  mount = await mountLoopFs(base);
  mounted = true;
  agentDir = join(base, 'agent');
  await mkdir(agentDir, { recursive: true });
  await writeFile(join(agentDir, 'config.json'), JSON.stringify({ metrics: { intervalSeconds: 1 } }));
  agent = await startAgent(agentDir, token);

  service = await startPushService(201);
  [kept, gone, deleted] = ['kept', 'gone', 'deleted'].map((p) => subscriber(`${service.url}/push/${p}`)) as [Subscriber, Subscriber, Subscriber];
  service.status.byPath.set('/push/gone', 410);
  const phone = await addDevice('phone');
  const old = await addDevice('old-laptop');
  // The admin's sync accepts the host and adds both devices to the fleet keyring.
  expect((await cli(admin, ['hosts', '--json'])).code).toBe(0);
  await subscribe(admin, kept);
  await subscribe(phone, gone);
  await subscribe(old, deleted, true);

  const rules = join(base, 'rules.yaml');
  await writeFile(
    rules,
    `kind: channel\nname: phones\npush: true\n---\nname: disk-full\nmetric: 'fs:${mount}:used_pct'\nwhen: '> 50'\nseverity: critical\nchannels: [phones]\n`,
  );
  const saved = await cli(admin, ['alerts', 'save', rules]);
  expect(saved.code, saved.stderr).toBe(0);
  await agent.waitFor(/"event":"alerts-loaded","rules":1,"channels":1/);
  expect((await cli(admin, ['alerts', 'rules'])).stdout).toMatch(/phones +push +every subscribed device/);
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await signal?.stop();
  await killAll();
  await service?.close();
  if (mounted) spawnSync('umount', [mount], { stdio: 'ignore' });
  if (base) await removeDir(base);
});

/** Fills the watched filesystem past half (5 MiB of an 8 MiB ext4). */
const fill = (): Promise<void> => fillLoopFs(mount, 5);

interface Shown {
  title: string;
  body: string;
  tag: string;
  url: string;
  severity: string;
  state: string;
  at: number;
}

describe('alerts by Web Push', () => {
  it('sends the subscribed device an encrypted, VAPID-signed message on firing and on resolve, with nothing connected', async () => {
    await fill();
    const first = await until('the firing push', () => to(kept)[0]);
    expect(first.headers['content-encoding']).toBe('aes128gcm');
    expect(first.headers['urgency']).toBe('high');
    expect(first.headers['topic']).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    const { claims } = checkVapid(String(first.headers['authorization']), service.url);
    expect(Number(claims['exp']) * 1000).toBeGreaterThan(Date.now());
    // The push service, like the relay before it, sees ciphertext only.
    expect(first.body.includes(Buffer.from('disk-full'))).toBe(false);
    const shown = json<Shown>(decryptPush(first.body, kept));
    expect(shown).toMatchObject({
      title: `Firing: disk-full on ${hostname()}`,
      tag: `disk-full/${agent.id}`,
      url: `#/hosts/${agent.id}`,
      severity: 'critical',
      state: 'firing',
    });
    expect(shown.body).toMatch(new RegExp(`^fs:${mount}:used_pct = [\\d.]+ \\(> 50\\), critical$`));
    // Encrypted for that one subscription: another subscription's key does not open it.
    expect(() => decryptPush(first.body, gone)).toThrow();

    await until('the delivery logged', () => events('alert-notified').find((e) => e['channel'] === 'phones' && e['notification'] === 'firing'));
    await rm(join(mount, 'blob'));
    const second = await until('the resolved push', () => to(kept)[1]);
    expect(json<Shown>(decryptPush(second.body, kept))).toMatchObject({
      title: `Resolved: disk-full on ${hostname()}`,
      state: 'resolved',
      tag: `disk-full/${agent.id}`,
    });
    await until('the resolve logged', () => events('alert-notified').find((e) => e['channel'] === 'phones' && e['notification'] === 'resolved'));
  }, 90_000);

  it('logs a gone subscription once and never tries it again, and sends nothing to a deleted one', () => {
    expect(to(gone).map((r) => r.answered)).toEqual([410]);
    expect(events('alert-push-gone')).toHaveLength(1);
    expect(events('alert-push-gone')[0]).toMatchObject({ status: 410 });
    expect(to(deleted)).toEqual([]);
    expect(service.got.every((r) => ['/push/kept', '/push/gone'].includes(r.url))).toBe(true);
    // The server saw the endpoints and sizes, and said so in its log; no plaintext.
    expect(signal.output()).toMatch(/"event":"push\.sent".*"status":410/);
    expect(signal.output()).not.toMatch(/disk-full/);
  });

  it('still skips the gone subscription after the agent restarts', async () => {
    await agent.stop();
    agent = Object.assign(restartAgent(agentDir), { id: agent.id });
    await agent.waitFor(/"event":"alerts-loaded","rules":1,"channels":1/);
    const before = to(kept).length;
    await fill();
    const third = await until('the firing push after the restart', () => to(kept)[before]);
    expect(json<Shown>(decryptPush(third.body, kept)).state).toBe('firing');
    await until('the delivery logged', () => events('alert-notified').find((e) => e['notification'] === 'firing'));
    expect(to(gone)).toHaveLength(1);
    expect(events('alert-push-gone')).toEqual([]);
    await rm(join(mount, 'blob'));
  }, 60_000);
});
