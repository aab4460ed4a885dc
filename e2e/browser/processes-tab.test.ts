// The host page's Processes tab, against the real stack: a process the test started is listed
// with its pid and command line, the filter narrows the table, and a signal sent from the page
// (after its confirmation) ends the process.

import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

describe('the host page: Processes tab', () => {
  let stack: Stack;
  let hostId = '';
  let sleeper: ChildProcess;
  let failures = 0;
  const MARK = `${Math.floor(Math.random() * 9000 + 1000)}.${process.pid}`;

  beforeAll(async () => {
    stack = await startStack();
    sleeper = spawn('sleep', [MARK], { stdio: 'ignore' });
  });

  afterAll(async () => {
    sleeper?.kill('SIGKILL');
    await stack?.stop();
  });

  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `processes-failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }

  test('an agent joins and its host page has the capability tabs', () =>
    step(async () => {
      const { page } = stack;
      await createFleetInUi(page, stack.url);
      const { token } = await makeTokenInUi(page, 1);
      hostId = (await stack.startAgent(token, 'proc-host')).id;
      await page.locator(`tr[data-host="${hostId}"][data-state="online"]`).waitFor({ timeout: 60_000 });
      await page.evaluate((id) => void (location.hash = `#/hosts/${id}`), hostId);
      await page.getByTestId('host-tabs').waitFor();
      expect(await page.locator('[data-testid="host-tabs"] a').allTextContents()).toEqual(expect.arrayContaining(['Overview', 'Processes']));
    }));

  test('the Processes tab lists the process with its pid, and the filter narrows to it', () =>
    step(async () => {
      const { page } = stack;
      await page.locator('[data-testid="host-tabs"] [data-tab="processes"]').click();
      const row = page.locator(`[data-testid="process-table"] tr[data-pid="${sleeper.pid}"]`);
      await row.waitFor({ timeout: 60_000 });
      expect(await row.textContent()).toContain(`sleep ${MARK}`);
      await page.getByTestId('process-filter').fill(MARK);
      await expect.poll(() => page.locator('[data-testid="process-table"] tbody tr').count()).toBe(1);
    }));

  test('a signal sent from the page, after its confirmation, ends the process', () =>
    step(async () => {
      const { page } = stack;
      const exited = new Promise<string | null>((resolve) => sleeper.once('exit', (_code, signal) => resolve(signal)));
      let asked = '';
      page.once('dialog', (dialog) => {
        asked = dialog.message();
        void dialog.accept();
      });
      await page.getByTestId('signal-choice').selectOption('TERM');
      await page.getByTestId(`signal-${sleeper.pid}`).click();
      expect(await exited).toBe('SIGTERM');
      expect(asked).toContain(`SIGTERM to process ${sleeper.pid}`);
      // The table is read again after the signal: the process is gone from it.
      await expect.poll(() => page.locator(`[data-testid="process-table"] tr[data-pid="${sleeper.pid}"]`).count(), { timeout: 30_000 }).toBe(0);
    }));
});
