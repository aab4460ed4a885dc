// The host page's Ports, Environment and Hosts file tabs in Chromium at 360 px wide, against a
// real agent: it runs in its own mount namespace with a temp file bind-mounted over /etc/hosts
// (never the machine's own) and was started with BROWSER_FOO=bar and MY_API_TOKEN=xyz.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { removeDir, tempDir } from '../harness.ts';
import { createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

const INITIAL = '# browser test hosts\n127.0.0.1\tlocalhost\n10.0.0.4\tdb\n';

describe('host operations tabs in the browser', () => {
  let stack: Stack;
  let root: string;
  let hostsFile: string;
  let id: string;
  let failures = 0;

  beforeAll(async () => {
    stack = await startStack();
    root = await tempDir('host-ops');
    hostsFile = join(root, 'hosts');
    await writeFile(hostsFile, INITIAL);
  });

  afterAll(async () => {
    await stack?.stop();
    if (root) await removeDir(root);
  });

  const go = (hash: string) => stack.page.evaluate((h) => void (location.hash = h), hash);

  /** The page fits 360 px: nothing but a table's own scroller is wider than the viewport. */
  const pageWidth = () => stack.page.evaluate(() => document.documentElement.scrollWidth);

  async function step(name: string, body: () => Promise<void>): Promise<void> {
    try {
      await body();
      await screenshot(stack.page, `host-ops-${name}`);
    } catch (error) {
      await screenshot(stack.page, `host-ops-failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }

  test('an agent joins; the page is 360 px wide', () =>
    step('joined', async () => {
      const { page } = stack;
      await createFleetInUi(page, stack.url);
      const { token } = await makeTokenInUi(page, 1);
      // The harness passes the test's environment on to the agent.
      process.env['BROWSER_FOO'] = 'bar';
      process.env['MY_API_TOKEN'] = 'xyz';
      try {
        id = (await stack.startAgent(token, 'ops-a', [], [{ source: hostsFile, target: '/etc/hosts' }])).id;
      } finally {
        delete process.env['BROWSER_FOO'];
        delete process.env['MY_API_TOKEN'];
      }
      await page.locator(`tr[data-host="${id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
      await page.setViewportSize({ width: 360, height: 740 });
    }));

  test('Ports lists the signaling server listening, sortable and filtered', () =>
    step('ports', async () => {
      const { page } = stack;
      await go(`#/hosts/${id}?tab=ports`);
      const panel = page.getByTestId('ports-panel');
      const row = panel.locator('tbody tr', { hasText: String(stack.signal.port) }).filter({ hasText: 'tcp' });
      await row.first().waitFor({ timeout: 30_000 });
      await expect.poll(() => row.first().textContent()).toContain(String(stack.signal.child.pid));
      await panel.getByLabel('Filter sockets').fill(String(stack.signal.port));
      const rows = await panel.locator('tbody tr').allTextContents();
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.includes(String(stack.signal.port)))).toBe(true);
      await panel.getByRole('button', { name: 'PID' }).click();
      await expect.poll(() => panel.locator('th[aria-sort="ascending"]').textContent()).toContain('PID');
      expect(await pageWidth()).toBeLessThanOrEqual(360);
    }));

  test('Environment masks the token and shows it to the admin after a confirm', () =>
    step('environment', async () => {
      const { page } = stack;
      await go(`#/hosts/${id}?tab=environment`);
      const panel = page.getByTestId('environment-panel');
      const processTable = panel.getByRole('table', { name: 'Process environment' });
      const foo = processTable.locator('tr', { hasText: 'BROWSER_FOO' });
      await foo.waitFor({ timeout: 30_000 });
      expect(await foo.locator('td').nth(1).textContent()).toBe('bar');
      const token = processTable.locator('tr', { hasText: 'MY_API_TOKEN' });
      expect(await token.locator('td').nth(1).textContent()).toBe('••••••');
      expect(await pageWidth()).toBeLessThanOrEqual(360);
      page.once('dialog', (d) => void d.accept());
      await panel.getByRole('button', { name: 'Show secrets' }).click();
      await expect.poll(() => token.locator('td').nth(1).textContent()).toBe('xyz');
    }));

  test('Hosts file adds an entry and removes a name after confirms, and undoes', () =>
    step('hosts-file', async () => {
      const { page } = stack;
      await go(`#/hosts/${id}?tab=hosts-file`);
      const panel = page.getByTestId('hosts-file-panel');
      await panel.locator('tbody tr', { hasText: '10.0.0.4' }).waitFor({ timeout: 30_000 });
      // An invalid address is named before anything is sent.
      await panel.getByLabel('Address').fill('10.0.0.999');
      await panel.getByLabel('Host names').fill('web');
      await expect.poll(() => panel.locator('.error').textContent()).toContain('"10.0.0.999" is not a valid IPv4 or IPv6 address');
      expect(await panel.getByRole('button', { name: 'Add or change' }).isDisabled()).toBe(true);

      await panel.getByLabel('Address').fill('10.0.0.5');
      const dialogs: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.accept();
      });
      await panel.getByRole('button', { name: 'Add or change' }).click();
      await panel.locator('tbody tr', { hasText: '10.0.0.5' }).waitFor();
      expect(await readFile(hostsFile, 'utf8')).toBe(INITIAL + '10.0.0.5\tweb\n');
      expect(await pageWidth()).toBeLessThanOrEqual(360);

      await panel.getByRole('button', { name: 'Remove db' }).click();
      await expect.poll(() => readFile(hostsFile, 'utf8')).toBe('# browser test hosts\n127.0.0.1\tlocalhost\n10.0.0.5\tweb\n');
      await panel.getByRole('button', { name: 'Undo last change' }).click();
      await expect.poll(() => readFile(hostsFile, 'utf8')).toBe(INITIAL + '10.0.0.5\tweb\n');
      expect(dialogs).toEqual([
        'Add "10.0.0.5 web" to /etc/hosts?',
        'Remove db (10.0.0.4) from /etc/hosts?',
        'Undo the last change to /etc/hosts made through Flotilla?',
      ]);
      // localhost offers no remove button.
      expect(await panel.getByRole('button', { name: 'Remove localhost' }).count()).toBe(0);
    }));
});
