// Devices the fleet does not accept, as a person sees them in the PWA. A fleet made by the CLI
// with one agent; two browsers import its backup (two admin devices). One revokes the other
// from Settings; the revoked browser is refused by the signaling server and by the agent and
// says so. A third browser with a fleet of its own is refused by the agent as not in the fleet.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cli, removeDir, startAgent, tempDir, type Proc } from '../harness.ts';
import { createFleetInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

const PASSPHRASE = 'refusal passphrase';

describe('refused devices in the browser', () => {
  let stack: Stack;
  let dir: string;
  let agent: Proc & { id: string };
  let backup = '';
  let second: Page;
  let failures = 0;

  beforeAll(async () => {
    stack = await startStack();
    dir = await tempDir('refusals');
    const home = join(dir, 'home');
    const flotilla = async (args: string[]) => {
      const result = await cli(home, args);
      if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
      return result.stdout;
    };
    await flotilla(['init', '--signal', stack.url, '--name', 'e2e-cli']);
    const { token } = JSON.parse(await flotilla(['token', 'create', '--json'])) as { token: string };
    agent = await startAgent(join(dir, 'agent'), token);
    await flotilla(['hosts', '--json']); // meets the agent, which proves its token: accepted
    await writeFile(join(dir, 'passphrase'), `${PASSPHRASE}\n`, { mode: 0o600 });
    backup = (await flotilla(['fleet', 'export', '--passphrase-file', join(dir, 'passphrase')])).trim();
  });

  afterAll(async () => {
    await agent?.stop();
    await stack?.stop();
    if (dir) await removeDir(dir);
  });

  async function step(page: () => Page, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(page(), `refusals-failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}\n--- agent\n${agent?.output().split('\n').slice(-30).join('\n')}`, { cause: error });
    }
  }

  /** Imports the fleet backup in `page` as device `name` and waits for the agent online. */
  async function importAs(page: Page, name: string): Promise<void> {
    await page.goto(`${stack.url}#import=${backup}`);
    await page.getByLabel('Name this device').fill(name);
    await page.getByLabel('Backup passphrase', { exact: true }).fill(PASSPHRASE);
    await page.getByRole('button', { name: 'Import fleet' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: 30_000 });
    await page.locator('[data-nav="hosts"]').click();
    await page.locator(`tr[data-host="${agent.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
    // Once this browser has connected, the agent's audit log knows it.
    await page.locator(`tr[data-host="${agent.id}"] td[data-connection="connected"]`).waitFor({ timeout: 30_000 });
  }

  test('two browsers become devices of one fleet', () =>
    step(
      () => stack.page,
      async () => {
        await importAs(stack.page, 'first browser');
        second = await stack.newBrowser();
        await importAs(second, 'second browser');
      },
    ));

  test('the first browser lists the devices the agent has seen and revokes the second', () =>
    step(
      () => stack.page,
      async () => {
        const { page } = stack;
        await page.locator('[data-nav="settings"]').click();
        await page.getByTestId('find-devices').click();
        const row = page.locator('[data-testid="devices"] li[data-name="second browser"]');
        await row.waitFor({ timeout: 30_000 });
        expect(await page.locator('[data-testid="devices"] li[data-name="first browser"]').textContent()).toContain('(this device)');
        expect(await page.locator('[data-testid="devices"] li[data-name="e2e-cli"]').count()).toBe(1);
        await row.getByTestId('revoke').click();
        await row.getByTestId('confirm-revoke').click();
        await page.locator('[data-testid="devices"] li[data-name="second browser"][data-revoked="true"]').waitFor({ timeout: 30_000 });
        await screenshot(page, 'desktop-settings-devices');
      },
    ));

  test('the revoked browser says the fleet refuses it, and the agent refuses it too', () =>
    step(
      () => second,
      async () => {
        await second.reload();
        const banner = second.getByTestId('device-refused');
        await banner.waitFor({ timeout: 30_000 });
        expect(await banner.getAttribute('data-code')).toBe('cert-revoked');
        expect(await banner.textContent()).toContain('This device has been revoked from the fleet.');
        await second.evaluate((id) => void (location.hash = `#/hosts/${id}`), agent.id);
        await second.getByTestId('connect').click();
        const failure = second.getByTestId('connection-failure');
        await failure.waitFor({ timeout: 30_000 });
        expect(await failure.getAttribute('data-code')).toBe('cert-revoked');
        expect(await failure.textContent()).toMatch(/^handshake refused: This device has been revoked from the fleet\./);
        await second.setViewportSize({ width: 360, height: 740 });
        await screenshot(second, 'phone-host-refused', true);
      },
    ));

  test('a browser of another fleet is refused by the agent as not in its fleet', () =>
    step(
      () => second,
      async () => {
        const stranger = await stack.newBrowser();
        second = stranger;
        await createFleetInUi(stranger, stack.url, 'stranger');
        await stranger.evaluate((id) => void (location.hash = `#/hosts/${id}`), agent.id);
        await stranger.getByTestId('host-unknown').waitFor();
        await stranger.getByTestId('connect').click();
        const failure = stranger.getByTestId('connection-failure');
        await failure.waitFor({ timeout: 30_000 });
        expect(await failure.getAttribute('data-code')).toBe('not-in-fleet');
        expect(await failure.getAttribute('data-reason')).toBe('handshake refused');
        expect(await failure.textContent()).toContain("This device is not a member of the agent's fleet.");
        await screenshot(stranger, 'desktop-host-not-in-fleet');
      },
    ));
});
