// Broadcast terminals (issue 16): from the Run page's selector, a terminal on each matching online
// host side by side (#/terminal?sel=…); what is typed into one goes to every included host's
// shell, a host left out gets nothing, and with broadcasting off typing reaches one host only.
// Real signaling server, two real agents with real ptys, real Chromium.

import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

/** The lines of one pane's terminal (xterm's buffer; only an automated browser gets the handle). */
async function paneLines(page: Page, hostId: string): Promise<string[]> {
  return page.locator(`[data-testid="broadcast-pane"][data-host="${hostId}"] [data-testid="terminal"]`).evaluate((el) => {
    const buffer = (el as unknown as { xterm: import('@xterm/xterm').Terminal }).xterm.buffer.active;
    return Array.from({ length: buffer.length }, (_, n) => buffer.getLine(n)?.translateToString(true) ?? '');
  });
}

async function paneMatches(page: Page, hostId: string, pattern: RegExp): Promise<string[]> {
  return (await paneLines(page, hostId)).flatMap((l) => {
    const m = pattern.exec(l);
    return m ? [m[1] ?? m[0]] : [];
  });
}

describe('broadcast terminals in the browser', () => {
  let stack: Stack;
  const hosts: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    const { page } = stack;
    await createFleetInUi(page, stack.url);
    const { token } = await makeTokenInUi(page, 2);
    for (const name of ['bc-a', 'bc-b']) hosts.push((await stack.startAgent(token, name)).id);
    for (const id of hosts) await page.locator(`tr[data-host="${id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  test('typing once reaches every included host; a host left out and broadcasting off are respected', async () => {
    const { page } = stack;
    try {
      await page.evaluate(() => void (location.hash = '#/run'));
      await page.getByTestId('selector').fill('*');
      await page.getByTestId('broadcast-link').click();
      await page.getByTestId('broadcast-page').waitFor();
      for (const id of hosts)
        await page.locator(`[data-testid="broadcast-pane"][data-host="${id}"] [data-testid="terminal-view"][data-status="open"]`).waitFor({ timeout: 60_000 });
      // Each shell's prompt first, as a person would wait for it.
      for (const id of hosts) await expect.poll(async () => (await paneLines(page, id)).some((l) => /[#$] ?$/.test(l)), { timeout: 60_000 }).toBe(true);
      expect(await page.getByTestId('broadcast-on').isChecked()).toBe(true);

      // Typed into the first pane, run in both shells: two different processes print the same line.
      const first = page.locator(`[data-testid="broadcast-pane"][data-host="${hosts[0]}"] [data-testid="terminal"] textarea`);
      await first.focus();
      await page.keyboard.type('echo "both=$((6*7)) pid=$$"');
      await page.keyboard.press('Enter');
      const pids: string[] = [];
      for (const id of hosts) {
        await expect.poll(() => paneMatches(page, id, /^both=42 pid=(\d+)$/), { timeout: 30_000 }).toHaveLength(1);
        pids.push((await paneMatches(page, id, /^both=42 pid=(\d+)$/))[0]!);
      }
      expect(new Set(pids).size).toBe(2);

      // The second host left out: typing into the first pane reaches the first host only.
      await page.locator(`[data-testid="broadcast-pane"][data-host="${hosts[1]}"] [data-testid="broadcast-include"]`).uncheck();
      await first.focus();
      await page.keyboard.type('echo "only-$((40+2))"');
      await page.keyboard.press('Enter');
      await expect.poll(() => paneMatches(page, hosts[0]!, /^(only-42)$/), { timeout: 30_000 }).toHaveLength(1);

      // Broadcasting off, the second host back in: typing into the second pane reaches it alone.
      await page.locator(`[data-testid="broadcast-pane"][data-host="${hosts[1]}"] [data-testid="broadcast-include"]`).check();
      await page.getByTestId('broadcast-on').uncheck();
      await page.locator(`[data-testid="broadcast-pane"][data-host="${hosts[1]}"] [data-testid="terminal"] textarea`).focus();
      await page.keyboard.type('echo "solo-$((40+3))"');
      await page.keyboard.press('Enter');
      await expect.poll(() => paneMatches(page, hosts[1]!, /^(solo-43)$/), { timeout: 30_000 }).toHaveLength(1);
      // Nothing of either reached the other shell (the typed command line would show there too).
      expect((await paneLines(page, hosts[1]!)).some((l) => l.includes('only-'))).toBe(false);
      expect((await paneLines(page, hosts[0]!)).some((l) => l.includes('solo-'))).toBe(false);
      await screenshot(page, 'broadcast-terminals');
    } catch (error) {
      await screenshot(page, 'broadcast-failure').catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  });
});
