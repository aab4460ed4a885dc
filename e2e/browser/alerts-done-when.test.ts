// Issue 15's "Done when", as one run on a phone-sized window (360×740, touch): the operator turns
// alert notifications on for this browser, then sets "disk over 90 % for 1 minute" (`for 1m`, a
// real minute) from the rule editor with three channels made there: a webhook (a local HTTP
// receiver), an email (a local SMTP sink, smtp-server) and a push channel. The agent (its own
// hostname, sampling every second) watches a small ext4 the test loop-mounts; the test fills it
// and CLOSES the browser. With nothing connected, the webhook and the mail arrive naming the rule
// and the host, and the agent's Web Push reaches the stand-in push service, through the real
// signaling server's relay. The app is then opened again in a new browser on the same profile:
// the push message is delivered to its service worker and the notification is there
// (`registration.getNotifications()`), the badge shows 1 and the history pending → firing.
// Emptying the filesystem then brings a *resolved* notification into the open browser.
//
// Chromium here has no push service (`pushManager.subscribe` never answers), so the browser's
// subscription is stood in by one whose keys the test holds (e2e/webpush-receiver.ts): the page's
// PushManager returns it, the PWA's own "Turn on" writes it as this device's `pushsub` document,
// the test decrypts what the stand-in receives (RFC 8291) and hands the plaintext to the worker
// with CDP `ServiceWorker.deliverPushMessage`, as a push service would. The browser is launched
// here rather than through browser-harness.ts, which cannot reopen a profile, with its flags.

import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, killAll, mountLoopFs, type Proc, procOf, removeDir, ROOT, startProc, tempDir } from '../harness.ts';
import { startSmtpSink, type SmtpSink } from '../smtp-sink.ts';
import { CHROMIUM, CHROMIUM_ARGS, deliverPush } from './browser-harness.ts';
import { decryptPush, startPushService, subscriber, type PushService, type Subscriber } from '../webpush-receiver.ts';

const HOST = 'phone-test-host';
const RULE = 'disk-full';

interface Shown {
  title: string;
  body: string;
  tag: string;
  state: string;
}

describe('Done when: disk over 90 % for 1 minute, set from a phone, notified with the browser closed', () => {
  let base: string;
  let profile: string;
  let signal: Proc & { url: string };
  let url: string;
  let context: BrowserContext | undefined;
  let page: Page;
  let agent: Proc & { id: string };
  let receiver: Server;
  let hookUrl: string;
  const hooks: Record<string, unknown>[] = [];
  let smtp: SmtpSink;
  let service: PushService;
  let phone: Subscriber;
  let mount: string;
  let mounted = false;
  const browserLog: string[] = [];
  let failures = 0;

  /** Chromium on the test's profile, at a phone's size, with the stand-in subscription behind PushManager. */
  async function openBrowser(): Promise<Page> {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 360, height: 740 },
      hasTouch: true,
      serviceWorkers: 'allow',
    });
    await context.grantPermissions(['notifications'], { origin: new URL(url).origin });
    await context.addInitScript((json) => {
      const subscription = { endpoint: json.endpoint, options: {}, toJSON: () => json, unsubscribe: () => Promise.resolve(true) };
      PushManager.prototype.subscribe = function () {
        localStorage.setItem('e2e-push-subscribed', '1');
        return Promise.resolve(subscription as unknown as PushSubscription);
      };
      PushManager.prototype.getSubscription = function () {
        return Promise.resolve((localStorage.getItem('e2e-push-subscribed') ? subscription : null) as unknown as PushSubscription | null);
      };
    }, phone.json);
    const p = context.pages()[0] ?? (await context.newPage());
    p.on('console', (m) => browserLog.push(`[${m.type()}] ${m.text()}`));
    p.on('pageerror', (e) => browserLog.push(`[pageerror] ${e.message}`));
    return p;
  }

  beforeAll(async () => {
    base = await tempDir('done-when');
    profile = join(base, 'chromium');
    await mkdir(profile);
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        try {
          hooks.push(JSON.parse(body) as Record<string, unknown>);
        } catch {
          hooks.push({ raw: body.slice(0, 200) });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const address = receiver.address();
    hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
    smtp = await startSmtpSink();
    service = await startPushService(201);
    phone = subscriber(`${service.url}/push/phone`);

    mount = await mountLoopFs(base);
    mounted = true;

    const port = await freePort();
    url = `http://127.0.0.1:${port}/`;
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
      { url },
    );
    await signal.waitFor(/listening/i);
    page = await openBrowser();
  });

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await agent?.stop();
    await signal?.stop();
    await killAll();
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
    await smtp?.close();
    await service?.close();
    if (mounted) spawnSync('umount', [mount], { stdio: 'ignore' });
    if (base) await removeDir(base);
  });

  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await page?.screenshot({ path: join(ROOT, 'test-results', 'screens', `done-when-failure-${++failures}.png`) }).catch(() => undefined);
      const tail = (t: string) => t.split('\n').slice(-40).join('\n');
      throw new Error(
        `${(error as Error).message}\n--- browser\n${tail(browserLog.join('\n'))}\n--- signal\n${tail(signal.output())}\n--- agent\n${agent ? tail(agent.output()) : ''}`,
        { cause: error },
      );
    }
  }

  function agentEvents(event: string): Record<string, unknown>[] {
    return agent
      .output()
      .split('\n')
      .filter((l) => l.includes(`"event":"${event}"`))
      .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>);
  }

  /** The pushes the stand-in push service got for this browser, decrypted with its keys. */
  const pushes = (): Shown[] => service.got.filter((r) => r.url === '/push/phone').map((r) => JSON.parse(decryptPush(r.body, phone)) as Shown);

  /** Hands a push message to the reopened page's service worker, as the browser's push service would. */
  const deliver = (message: Shown): Promise<void> => deliverPush(page, url, JSON.stringify(message));

  const notifications = () =>
    page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag })));

  /** Reads the fleet store now (the page also does every 30 s) until `probe` holds. */
  async function untilSynced(probe: () => Promise<boolean>, timeout = 60_000): Promise<void> {
    await expect
      .poll(
        async () => {
          if (await probe()) return true;
          await page.getByRole('button', { name: 'Refresh' }).click();
          return probe();
        },
        { timeout, interval: 2000 },
      )
      .toBe(true);
  }

  test('a fleet on the phone, a host with a small disk, and alert notifications on for this browser', () =>
    step(async () => {
      await page.goto(url);
      await page.getByLabel('Name this device').fill('on-call phone');
      await page.getByRole('button', { name: 'Create fleet' }).click();
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
      // A join token from the Hosts page (as browser-harness.ts's makeTokenInUi).
      await page.locator('[data-nav="hosts"]').click();
      await page.getByTestId('token-uses').selectOption('1');
      await page.getByTestId('add-host').click();
      const install = (await page.getByTestId('install-command').textContent()) ?? '';
      const token = /join (flt1\.\S+)/.exec(install)?.[1];
      expect(token, install).toBeDefined();

      // The agent under its own hostname (a UTS namespace, as browser-harness.ts does), sampling every second.
      const state = join(base, 'agent');
      await mkdir(state);
      await writeFile(join(state, 'config.json'), JSON.stringify({ metrics: { intervalSeconds: 1 } }));
      const child = spawn(
        'unshare',
        [
          '-u',
          'sh',
          '-c',
          'hostname "$1" && shift && exec "$@"',
          'sh',
          HOST,
          process.execPath,
          join(ROOT, 'bin/flotilla-agent.js'),
          'join',
          token!,
          '--state-dir',
          state,
        ],
        { cwd: ROOT, env: { ...process.env, HOSTNAME: HOST }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const proc = procOf(child, 'output of flotilla-agent');
      const id = (await proc.waitFor(/Enrolled as ([a-z2-7]{52})/))[1]!;
      agent = Object.assign(proc, { id });
      await agent.waitFor(/"event":"signaling-open"/);
      await page.locator(`tr[data-host="${agent.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });

      await page.locator('[data-nav="settings"]').click();
      await page.getByTestId('push-on').click();
      await expect.poll(() => page.getByTestId('push-state').textContent()).toContain('On for this device.');
    }));

  test('the operator sets "disk over 90 % for 1 minute" with a webhook, a mail and a push channel, from the phone', () =>
    step(async () => {
      await page.locator('[data-nav="alerts"]').click();
      await page.getByTestId('rule-new').click();
      await page.getByLabel('Name', { exact: true }).fill(RULE);
      await expect.poll(() => page.getByTestId('rule-metric-source').textContent(), { timeout: 30_000 }).toContain(`the series ${HOST} has now`);
      await page.getByTestId('rule-metric').selectOption(`fs:${mount}:used_pct`);
      await page.getByTestId('rule-threshold').fill('90');
      await page.getByTestId('rule-for').fill('1m');
      await page.getByTestId('rule-severity-critical').check();
      expect(await page.getByTestId('rule-sentence').textContent()).toBe(`Disk used % on ${mount} > 90 % for 1m`);

      const channel = page.getByTestId('channel-editor');
      await page.getByTestId('rule-new-channel').click();
      await channel.getByTestId('channel-name').fill('ops-hook');
      await channel.getByTestId('channel-url').fill(hookUrl);
      await channel.getByTestId('channel-save').click();
      await channel.waitFor({ state: 'detached' });

      await page.getByTestId('rule-new-channel').click();
      await channel.getByTestId('channel-name').fill('oncall-mail');
      await channel.getByTestId('channel-kind-email').check();
      await channel.getByTestId('channel-host').fill('127.0.0.1');
      await channel.getByTestId('channel-port').fill(String(smtp.port));
      await channel.getByTestId('channel-from').fill('flotilla@test.invalid');
      await channel.getByTestId('channel-to').fill('oncall@test.invalid');
      await channel.getByTestId('channel-save').click();
      await channel.waitFor({ state: 'detached' });

      await page.getByTestId('rule-new-channel').click();
      await channel.getByTestId('channel-name').fill('phones');
      await channel.getByTestId('channel-kind-push').check();
      await channel.getByTestId('channel-save').click();
      await channel.waitFor({ state: 'detached' });

      for (const name of ['ops-hook', 'oncall-mail', 'phones'])
        expect(await page.locator(`[data-field="channels"] label[data-channel="${name}"] input`).isChecked(), name).toBe(true);
      await page.getByTestId('rule-save').click();
      await page.locator(`[data-testid="rule-list"] li[data-rule="${RULE}"]`).waitFor();
      await agent.waitFor(/"event":"alerts-loaded","rules":1,"channels":3/, 60_000);
    }));

  test(
    'the disk fills, the browser is closed: the webhook and the mail arrive naming the rule and the host, and the push leaves',
    () =>
      step(async () => {
        // Fill it to the last block (as root, the reserved blocks too): well over 90 %.
        const handle = await open(join(mount, 'blob'), 'w');
        try {
          for (;;) await handle.write(Buffer.alloc(256 * 1024, 7));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        }
        await handle.sync().catch(() => undefined);
        await handle.close();
        await expect
          .poll(() => agentEvents('alert-state').map((e) => `${String(e['rule'])}:${String(e['to'])}`), { timeout: 30_000 })
          .toEqual([`${RULE}:pending`]);

        await context!.close();
        context = undefined;
        // A real minute of "over 90 %" before it fires.
        await expect.poll(() => agentEvents('alert-state').map((e) => String(e['to'])), { timeout: 100_000, interval: 1000 }).toEqual(['pending', 'firing']);
        await expect.poll(() => hooks.filter((h) => h['rule'] === RULE && h['event'] === 'firing').length, { timeout: 60_000 }).toBe(1);
        const hook = hooks.find((h) => h['rule'] === RULE)!;
        expect(hook).toMatchObject({ rule: RULE, severity: 'critical', forSec: 60, threshold: 90, host: { id: agent.id, hostname: HOST } });
        expect(String(hook['text'])).toContain(`${RULE} on ${HOST}`);
        await expect.poll(() => smtp.mails.some((m) => m.raw.includes(`[FIRING] ${RULE}`)), { timeout: 60_000 }).toBe(true);
        const firingMail = smtp.mails.find((m) => m.raw.includes(`[FIRING] ${RULE}`))!.raw;
        expect(firingMail).toContain(`on ${HOST}`);
        expect(firingMail).toMatch(/To: oncall@test\.invalid/);
        await expect.poll(() => pushes().length, { timeout: 60_000 }).toBe(1);
        expect(pushes()[0]).toMatchObject({ title: `Firing: ${RULE} on ${HOST}`, tag: `${RULE}/${agent.id}`, state: 'firing' });
      }),
    240_000,
  );

  test('opened again on the same profile: the notification is there, the badge shows 1, the history pending → firing', () =>
    step(async () => {
      page = await openBrowser();
      await page.goto(`${url}#/alerts`);
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
      // What the push service kept for the closed browser reaches its worker now.
      await deliver(pushes()[0]!);
      await expect
        .poll(async () => (await notifications()).filter((n) => n.tag === `${RULE}/${agent.id}`), { timeout: 15_000 })
        .toEqual([{ title: `Firing: ${RULE} on ${HOST}`, body: expect.stringContaining(`fs:${mount}:used_pct`) as string, tag: `${RULE}/${agent.id}` }]);
      const row = page.locator(`[data-testid="alert-list"] li[data-rule="${RULE}"][data-host="${agent.id}"]`);
      await untilSynced(async () => (await row.getAttribute('data-state').catch(() => null)) === 'firing');
      await expect.poll(() => page.getByTestId('alerts-badge').textContent()).toBe('1');
      const changes = page.locator(`[data-testid="alert-history"] li[data-kind="state"][data-rule="${RULE}"]`);
      expect(await changes.allTextContents().then((t) => t.map((s) => /(\w+) → (\w+)/.exec(s)?.[0]))).toEqual(['pending → firing', 'inactive → pending']);
      await page.evaluate(() => scrollTo(0, 0));
      await page.screenshot({ path: join(ROOT, 'test-results', 'screens', 'done-when-reopened-360.png'), fullPage: true });
    }));

  test('the filesystem emptied: a resolved notification in the browser', () =>
    step(async () => {
      await rm(join(mount, 'blob'), { force: true });
      await expect.poll(() => agentEvents('alert-state').map((e) => String(e['to'])), { timeout: 60_000 }).toEqual(['pending', 'firing', 'resolved']);
      await expect.poll(() => pushes().length, { timeout: 60_000 }).toBe(2);
      const resolved = pushes()[1]!;
      expect(resolved).toMatchObject({ title: `Resolved: ${RULE} on ${HOST}`, state: 'resolved', tag: `${RULE}/${agent.id}` });
      await deliver(resolved);
      // The same tag: the resolved notification replaces the firing one.
      await expect
        .poll(async () => (await notifications()).filter((n) => n.tag === `${RULE}/${agent.id}`).map((n) => n.title), { timeout: 15_000 })
        .toEqual([`Resolved: ${RULE} on ${HOST}`]);
      await expect.poll(() => hooks.filter((h) => h['rule'] === RULE && h['event'] === 'resolved').length, { timeout: 60_000 }).toBe(1);
      await expect.poll(() => smtp.mails.some((m) => m.raw.includes(`[RESOLVED] ${RULE}`)), { timeout: 60_000 }).toBe(true);
    }));
});
