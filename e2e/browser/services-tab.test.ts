// The host page's Services tab in real Chromium against a real agent on a host without systemd
// as PID 1 (this machine, CI): the tab says so in one sentence instead of a table.

import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

describe.skipIf(existsSync('/run/systemd/system'))('the Services tab on a host without systemd', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  test('shows the sentence saying the host has no systemd, at 360 px', async () => {
    const { page } = stack;
    try {
      await createFleetInUi(page, stack.url);
      const { token } = await makeTokenInUi(page, 1);
      const agent = await stack.startAgent(token, 'svc-a');
      await page.locator(`tr[data-host="${agent.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
      await page.setViewportSize({ width: 360, height: 740 });
      await page.evaluate((h) => void (location.hash = h), `#/hosts/${agent.id}`);
      await page.locator('[data-testid="host-tabs"] [data-tab="services"]').click();
      const refusal = page.getByTestId('services-refusal');
      await refusal.waitFor({ timeout: 30_000 });
      expect(await refusal.textContent()).toBe('This host does not run systemd (no /run/systemd/system), so it has no services to list or control.');
      expect(await page.locator('[data-testid="services"] table').count()).toBe(0);
      await screenshot(page, 'services-tab-no-systemd-360');
    } catch (error) {
      await screenshot(page, 'services-tab-failure').catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  });
});
