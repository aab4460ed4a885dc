// One fleet state on every device, through the sealed store on the signaling server (issue 13):
// a fleet made by the CLI and imported from its backup into two browsers ("laptop" and
// "phone", two admin devices). A token made on the laptop, a host it accepted and one it
// rejected show the same on the phone; a task the laptop ran shows in the phone's history,
// marked with the device that ran it; a command queued for a stopped agent is `queued` with its
// deadline on both; a removed host leaves both. With the CLI's and the agent's store sides
// (branches store-cli, store-agent): a host rejected on the CLI is rejected in the PWA, a PWA
// token is listed by `flotilla token list`, and a task queued for a stopped agent delivers its
// result to the phone once the agent is back.

import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ROOT, cli, removeDir, restartAgent, startAgent, tempDir, type Proc } from '../harness.ts';
import { makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

const PASSPHRASE = 'a local passphrase';

describe('one fleet state in two browsers and the CLI', () => {
  let stack: Stack;
  let dir: string;
  let home: string;
  let laptop: Page;
  let phone: Page;
  let backup = '';
  let tokenOne = '';
  let failures = 0;
  const agents: Record<string, Proc & { id: string }> = {};
  const owned: Proc[] = [];
  /** Whether the CLI on this branch has its store side (`flotilla remove`, documents). */
  let cliHasStore = false;
  /** Whether the agent on this branch fetches queued tasks from the store. */
  const agentHasMailbox = existsSync(join(ROOT, 'agent/src/mailbox.ts'));

  beforeAll(async () => {
    stack = await startStack();
    dir = await tempDir('store-web');
    home = join(dir, 'home');
  });

  afterAll(async () => {
    await Promise.all(owned.map((p) => p.stop().catch(() => undefined)));
    await stack?.stop();
    if (dir) await removeDir(dir);
  });

  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `store-failure-${++failures}-laptop`).catch(() => undefined);
      if (phone) await screenshot(phone, `store-failure-${failures}-phone`).catch(() => undefined);
      const own = owned.map((p) => `--- cli-enrolled agent\n${p.output().split('\n').slice(-30).join('\n')}`).join('\n');
      throw new Error(`${(error as Error).message}\n${stack.logs()}\n${own}`, { cause: error });
    }
  }

  async function flotilla(args: string[]): Promise<string> {
    const result = await cli(home, args);
    if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
  }

  async function importInUi(page: Page, name: string): Promise<void> {
    await page.goto(`${stack.url}#import=${backup}`);
    await expect.poll(() => page.getByLabel('Fleet backup', { exact: true }).inputValue()).toBe(backup);
    await page.getByLabel('Name this device').fill(name);
    await page.getByLabel('Backup passphrase', { exact: true }).fill(PASSPHRASE);
    await page.getByRole('button', { name: 'Import fleet' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: 30_000 });
  }

  /** Opens the app again (it syncs on open) and waits until that sync is done; ends on `hash`. */
  async function syncFresh(page: Page, hash = '#/hosts'): Promise<void> {
    const before = Date.now();
    await page.goto(`${stack.url}#/history`);
    await page.reload();
    await expect
      .poll(async () => Number((await page.getByTestId('history-count').getAttribute('data-synced')) || 0), { timeout: 30_000 })
      .toBeGreaterThan(before);
    if (hash !== '#/history') await page.goto(`${stack.url}${hash}`);
  }

  /** Both devices read each other's news: the laptop first (an admin adds the phone to the keyrings), then the phone. */
  async function syncBoth(hash = '#/hosts'): Promise<void> {
    await syncFresh(laptop, hash);
    await syncFresh(phone, hash);
  }

  const row = (page: Page, id: string) => page.locator(`tr[data-host="${id}"]`);
  const state = (page: Page, id: string, s: string) => page.locator(`tr[data-host="${id}"][data-state="${s}"]`);

  /** A join token made on the Hosts page, with its id. */
  async function makeToken(page: Page): Promise<{ token: string; tid: string }> {
    const { token } = await makeTokenInUi(page, 1);
    const tid = await page.locator('[data-testid="install-command"]').getAttribute('data-token-id');
    if (!tid) throw new Error('the install command names no token id');
    return { token, tid };
  }

  test('the CLI makes a fleet; two browsers import its backup as two devices', () =>
    step(async () => {
      await flotilla(['init', '--signal', stack.url, '--name', 'e2e-cli']);
      const passphraseFile = join(dir, 'passphrase');
      await writeFile(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
      backup = (await flotilla(['fleet', 'export', '--passphrase-file', passphraseFile])).trim();
      cliHasStore = /^\s+remove\b/m.test((await cli(home, ['--help'])).stdout);
      laptop = stack.page;
      await importInUi(laptop, 'laptop');
      phone = await stack.newBrowser();
      await importInUi(phone, 'phone');
    }));

  test('a token made on the laptop and the host it accepted show on the phone', () =>
    step(async () => {
      const made = await makeToken(laptop);
      tokenOne = made.token;
      agents['web'] = await stack.startAgent(tokenOne, 'web-1');
      await state(laptop, agents['web'].id, 'online').waitFor({ timeout: 60_000 });
      await syncBoth();
      await state(phone, agents['web'].id, 'online').waitFor({ timeout: 60_000 });
      await phone.getByTestId('tokens').locator('summary').click();
      const listed = phone.locator(`[data-testid="tokens"] li[data-token="${made.tid}"]`);
      await listed.waitFor({ timeout: 10_000 });
      expect(await listed.textContent()).toContain(agents['web'].id.slice(0, 8));
      expect(await phone.getByTestId('tokens').locator('summary').textContent()).toContain('(1 valid)');
    }));

  test('a host rejected on the laptop is rejected on the phone, not pending', () =>
    step(async () => {
      // The one-host token is used up: an agent joining with it waits for a decision on both devices.
      agents['stray'] = await stack.startAgent(tokenOne, 'stray');
      const stray = agents['stray'].id;
      const pending = laptop.getByTestId('pending-hosts').locator(`li[data-host="${stray}"]`);
      await pending.waitFor({ timeout: 60_000 });
      await syncFresh(phone);
      await expect.poll(() => row(phone, stray).getAttribute('data-state'), { timeout: 30_000 }).toBe('pending');
      await pending.getByTestId('reject').click();
      await state(laptop, stray, 'rejected').waitFor({ timeout: 30_000 });
      await syncBoth();
      await state(phone, stray, 'rejected').waitFor({ timeout: 30_000 });
      expect(await phone.getByTestId('pending-hosts').count()).toBe(0);
      expect(await phone.getByTestId('host-counts').textContent()).toMatch(/· 0 pending$/);
      await phone.goto(`${stack.url}#/`);
      expect(await phone.getByTestId('count-pending').getAttribute('data-count')).toBe('0');
      await screenshot(phone, 'store-phone-rejected');
    }));

  test('a task run on the laptop is in the phone’s history, marked with the device that ran it', () =>
    step(async () => {
      await laptop.goto(`${stack.url}#/run`);
      await laptop.getByTestId('selector').fill(`id:${agents['web']!.id.slice(0, 12)}`);
      await expect.poll(() => laptop.getByTestId('match-count').getAttribute('data-count')).toBe('1');
      await laptop.getByTestId('command').fill('echo hello-from-laptop');
      await laptop.getByTestId('run').click();
      const result = laptop.locator('[data-testid="run-result"][data-running="false"]');
      await result.waitFor({ timeout: 60_000 });
      const task = (await result.getAttribute('data-task'))!;
      await syncBoth('#/history');
      const entry = phone.locator(`[data-testid="history"] a[data-task="${task}"]`);
      await entry.waitFor({ timeout: 30_000 });
      expect(await entry.getAttribute('data-from')).toBe('laptop');
      expect(await entry.textContent()).toContain('from laptop');
      expect(await entry.textContent()).toContain('echo hello-from-laptop');
      await entry.click();
      expect(await phone.getByTestId('task-device').textContent()).toContain('from laptop');
      expect(await phone.locator(`article[data-host="${agents['web']!.id}"]`).getAttribute('data-status')).toBe('ok');
      await screenshot(phone, 'store-phone-history');
    }));

  test('a command queued for a stopped agent is queued with its deadline on both devices (and, with the agent side, its result reaches the phone)', () =>
    step(async () => {
      const { token } = await makeToken(laptop);
      const stateDir = join(dir, 'db-agent');
      const db = await startAgent(stateDir, token);
      owned.push(db);
      agents['db'] = db;
      await state(laptop, db.id, 'online').waitFor({ timeout: 60_000 });
      await syncFresh(laptop); // the accepted decision (and so the fleet keyring) has the db host
      await db.stop();
      await state(laptop, db.id, 'offline').waitFor({ timeout: 60_000 });

      await laptop.goto(`${stack.url}#/run`);
      await laptop.getByTestId('selector').fill(`id:${db.id.slice(0, 12)}`);
      await expect.poll(() => laptop.getByTestId('match-count').getAttribute('data-count')).toBe('1');
      await laptop.getByTestId('command').fill('uname -s');
      await laptop.getByTestId('queue').check();
      expect(await laptop.getByTestId('queue-deadline').inputValue()).toBe('24');
      await laptop.getByTestId('run').click();
      const result = laptop.locator('[data-testid="run-result"][data-running="false"]');
      await result.waitFor({ timeout: 60_000 });
      expect(await result.locator(`article[data-host="${db.id}"]`).getAttribute('data-status')).toBe('queued');
      const task = (await result.getAttribute('data-task'))!;
      await laptop.goto(`${stack.url}#/history/${task}`);
      expect(await laptop.getByTestId('task-deadline').textContent()).not.toBe('');

      await syncBoth('#/history');
      const entry = phone.locator(`[data-testid="history"] a[data-task="${task}"]`);
      await entry.waitFor({ timeout: 30_000 });
      expect(await entry.textContent()).toContain('queued until');
      await entry.click();
      expect(await phone.locator(`article[data-host="${db.id}"]`).getAttribute('data-status')).toBe('queued');
      expect(await phone.getByTestId('task-deadline').count()).toBe(1);
      await screenshot(phone, 'store-phone-queued');
      if (!agentHasMailbox) return; // the agent side (store-agent) is not on this branch yet

      await laptop.goto('about:blank'); // the laptop's app closed: only the phone looks later
      const back = restartAgent(stateDir);
      owned.push(back);
      await back.waitFor(/"event":"agent-started"/);
      await expect
        .poll(
          async () => {
            await syncFresh(phone, `#/history/${task}`);
            return phone.locator(`article[data-host="${db.id}"]`).getAttribute('data-status');
          },
          { timeout: 90_000, interval: 2_000 },
        )
        .toBe('ok');
      expect(await phone.locator(`article[data-host="${db.id}"]`).getByTestId('output').textContent()).toContain('Linux');
    }));

  test('a host rejected on the CLI is rejected in the PWA; a PWA token is listed by the CLI', ({ skip }) => {
    if (!cliHasStore) skip('the CLI store side (store-cli) is not on this branch yet');
    return step(async () => {
      // The CLI announces itself to the store; an admin device (the phone) then adds it to the keyrings.
      await flotilla(['hosts']);
      await syncFresh(phone);
      const { tid } = await makeToken(phone);
      await expect.poll(async () => await flotilla(['token', 'list']), { timeout: 30_000 }).toContain(tid);
      // Another agent with the used-up token: pending, then rejected with the CLI.
      const late = await stack.startAgent(tokenOne, 'late');
      await flotilla(['hosts']);
      await flotilla(['reject', late.id]);
      await syncFresh(phone);
      await state(phone, late.id, 'rejected').waitFor({ timeout: 30_000 });
      expect(await phone.getByTestId('pending-hosts').count()).toBe(0);
    });
  });

  test('a command queued on the CLI for a stopped agent: the agent comes back, the phone shows the result', ({ skip }) => {
    if (!cliHasStore || !agentHasMailbox) skip('the CLI or agent store side is not on this branch yet');
    return step(async () => {
      const db = agents['db']!;
      const stateDir = join(dir, 'db-agent');
      for (const p of owned) await p.stop();
      await expect.poll(async () => (await flotilla(['hosts'])).includes('offline'), { timeout: 60_000 }).toBe(true);
      const queued = await flotilla(['run', '--queue', '--deadline', '1h', `id:${db.id.slice(0, 12)}`, '--', 'echo queued-on-the-cli']);
      expect(queued).toContain('queued');
      const back = restartAgent(stateDir);
      owned.push(back);
      await back.waitFor(/"event":"agent-started"/);
      const entry = phone.locator('[data-testid="history"] a[data-task]').filter({ hasText: 'echo queued-on-the-cli' });
      await expect
        .poll(
          async () => {
            await syncFresh(phone, '#/history');
            if ((await entry.count()) === 0) return 'not listed';
            return (await entry.locator('[data-status]').first().getAttribute('data-status')) ?? 'no status';
          },
          { timeout: 90_000, interval: 2_000 },
        )
        .toBe('ok');
      expect(await entry.textContent()).toContain('from e2e-cli');
      await entry.click();
      expect(await phone.locator(`article[data-host="${db.id}"]`).getByTestId('output').textContent()).toContain('queued-on-the-cli');
      await screenshot(phone, 'store-phone-cli-queued-result');
    });
  });

  test('a host removed on the phone leaves both devices', () =>
    step(async () => {
      const stray = agents['stray']!.id;
      await phone.goto(`${stack.url}#/hosts/${stray}`);
      await phone.getByTestId('remove-host').click();
      await phone.getByTestId('confirm-remove').click();
      await phone.getByRole('heading', { name: 'Hosts' }).waitFor();
      expect(await row(phone, stray).count()).toBe(0);
      await syncFresh(laptop);
      await expect.poll(() => row(laptop, stray).count(), { timeout: 30_000 }).toBe(0);
      await expect.poll(() => row(laptop, agents['web']!.id).getAttribute('data-state'), { timeout: 30_000 }).toBe('online');
    }));
});
