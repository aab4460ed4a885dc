// The host page's Logs tab in real Chromium against a real agent: the last lines of a file,
// Follow streaming lines the test appends until Stop, and a path outside the agent's allowed
// roots refused with its sentence.

import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { removeDir, tempDir } from '../harness.ts';
import { createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

describe('the Logs tab', () => {
  let stack: Stack;
  let root: string;
  let id = '';
  let failures = 0;

  beforeAll(async () => {
    stack = await startStack();
    root = await tempDir('logs-tab');
    await mkdir(join(root, 'logs'));
  });

  afterAll(async () => {
    await stack?.stop();
    if (root) await removeDir(root);
  });

  const file = () => join(root, 'logs', 'app.log');
  const go = (hash: string) => stack.page.evaluate((h) => void (location.hash = h), hash);

  /** Runs `body`; on failure adds a screenshot and every process's log to the error. */
  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `logs-tab-failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }

  /** The lines the tab shows now. */
  const shown = () => stack.page.locator('[data-testid="logs-lines"] .line').allTextContents();

  test('an agent joins and its host page has a Logs tab', () =>
    step(async () => {
      const { page } = stack;
      await createFleetInUi(page, stack.url);
      const { token } = await makeTokenInUi(page, 1);
      const agent = await stack.startAgent(token, 'logs-a', ['--allow-root', join(root, 'logs')]);
      id = agent.id;
      await page.locator(`tr[data-host="${id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
      await go(`#/hosts/${id}`);
      await page.locator('[data-testid="host-tabs"] [data-tab="logs"]').click();
      await page.getByTestId('logs').waitFor();
    }));

  test('shows the last N lines of a file', () =>
    step(async () => {
      const { page } = stack;
      await writeFile(file(), Array.from({ length: 50 }, (_, i) => `line ${i + 1}\n`).join(''));
      await page.getByLabel('File or unit').fill(file());
      await page.getByLabel('Lines').fill('3');
      await page.getByRole('button', { name: 'Show' }).click();
      await page.getByTestId('logs-summary').waitFor({ timeout: 30_000 });
      expect(await shown()).toEqual(['line 48', 'line 49', 'line 50']);
    }));

  test('follows the file: appended lines appear until Stop', () =>
    step(async () => {
      const { page } = stack;
      await page.getByLabel('Follow').check();
      await page.getByRole('button', { name: 'Follow' }).click();
      await page.getByTestId('logs-following').waitFor({ timeout: 30_000 });
      await expect.poll(shown, { timeout: 30_000 }).toEqual(['line 48', 'line 49', 'line 50']);
      await appendFile(file(), 'appended in the test\n');
      await expect.poll(shown, { timeout: 30_000 }).toEqual(['line 48', 'line 49', 'line 50', 'appended in the test']);
      await appendFile(file(), 'and another\n');
      await expect.poll(shown, { timeout: 30_000 }).toContain('and another');
      await page.setViewportSize({ width: 360, height: 740 });
      await screenshot(page, 'logs-tab-following-360');
      await page.getByTestId('logs-stop').click();
      await expect
        .poll(async () => (await page.getByTestId('logs-summary').textContent()) ?? '', { timeout: 30_000 })
        .toMatch(/^3 lines, then \d+ bytes followed\.$/);
      await page.setViewportSize({ width: 1280, height: 800 });
      // Stopped: a line appended now does not arrive.
      await appendFile(file(), 'after stop\n');
      await new Promise((r) => setTimeout(r, 1000));
      expect(await shown()).not.toContain('after stop');
    }));

  test('refuses a path outside the allowed roots with the sentence', () =>
    step(async () => {
      const { page } = stack;
      await page.getByLabel('Follow').uncheck();
      await page.getByLabel('File or unit').fill('/etc/hostname');
      await page.getByRole('button', { name: 'Show' }).click();
      await expect
        .poll(async () => (await page.getByTestId('logs-error').textContent({ timeout: 30_000 })) ?? '')
        .toMatch(/That path is outside the directories this agent allows\. \(\/etc\/hostname is outside /);
    }));
});
