// Metrics in the PWA, against the real stack: the host page's Metrics tab draws CPU, memory, disk
// and network charts from the agent's history (a canvas with pixels drawn, the legend showing a
// CPU value), and switching to 24 h asks the agent again at a coarser step; the dashboard's fleet
// health lists the host whose CPU a burner started by the test raises first. Two agents on this
// machine: the other one sees a frozen copy of /proc/stat (bind-mounted), so its CPU stays at 0.

import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tempDir, removeDir } from '../harness.ts';
import { createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

describe('metrics in the PWA', () => {
  let stack: Stack;
  let dir = '';
  let hot = '';
  let cold = '';
  let burner: ChildProcess | undefined;
  let failures = 0;

  beforeAll(async () => {
    stack = await startStack();
    dir = await tempDir('metrics-web-');
    copyFileSync('/proc/stat', join(dir, 'stat'));
  });

  afterAll(async () => {
    burner?.kill('SIGKILL');
    await stack?.stop();
    if (dir) await removeDir(dir);
  });

  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `metrics-failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }

  /** Pixels of the chart's canvas in one of its series' colours (the legend's swatches): the data drawn, not the axes. */
  const drawn = (key: string) =>
    stack.page.evaluate((k) => {
      const canvas = document.querySelector<HTMLCanvasElement>(`[data-chart="${k}"] canvas`);
      const colours = [...document.querySelectorAll(`[data-chart="${k}"] .swatch`)].map((e) => getComputedStyle(e).backgroundColor.match(/\d+/g)!.map(Number));
      const data = canvas?.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; data && i < data.length; i += 4) {
        if (data[i + 3]! < 200) continue;
        if (colours.some((c) => Math.abs(data[i]! - c[0]!) + Math.abs(data[i + 1]! - c[1]!) + Math.abs(data[i + 2]! - c[2]!) < 40)) n++;
      }
      return n;
    }, key);

  test('two agents join', () =>
    step(async () => {
      const { page } = stack;
      await createFleetInUi(page, stack.url);
      const { token } = await makeTokenInUi(page, 2);
      [hot, cold] = await Promise.all([
        stack.startAgent(token, 'zz-hot').then((a) => a.id),
        stack.startAgent(token, 'aa-cold', [], [{ source: join(dir, 'stat'), target: '/proc/stat' }]).then((a) => a.id),
      ]);
      for (const id of [hot, cold]) await page.locator(`tr[data-host="${id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
    }));

  test('the Metrics tab draws the charts with data, and 24 h asks for history at a coarser step', () =>
    step(async () => {
      const { page } = stack;
      await page.evaluate((id) => void (location.hash = `#/hosts/${id}`), hot);
      await page.locator('[data-testid="host-tabs"] [data-tab="metrics"]').click();
      const metrics = page.getByTestId('metrics');
      await metrics.locator('[data-chart="cpu"] canvas').waitFor({ timeout: 60_000 });
      // The agent's second sample (5 s after its start) is the first with a CPU figure.
      await expect.poll(() => page.getByTestId('legend-cpu').locator('.value').textContent(), { timeout: 30_000 }).toMatch(/^\d+(\.\d)? %$/);
      await expect.poll(() => page.getByTestId('legend-mem').locator('.value').textContent()).toMatch(/^\d+(\.\d)? %$/);
      // The last hour comes from the 5-second tier (buckets merged to fit the chart's width).
      expect(Number(await metrics.getAttribute('data-step'))).toBeLessThan(60_000);
      await expect.poll(() => metrics.getAttribute('data-live')).toBe('true');
      // Live points appended (one per sample, every 5 s) to what the history answered.
      await expect.poll(() => metrics.locator('[data-chart="cpu"]').getAttribute('data-points').then(Number), { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
      for (const key of ['cpu', 'mem', 'disk', 'net']) {
        expect(Number(await metrics.locator(`[data-chart="${key}"]`).getAttribute('data-points')), `${key} points`).toBeGreaterThan(0);
        await expect.poll(() => drawn(key), { message: `${key} chart drawn` }).toBeGreaterThan(0);
      }
      expect(await page.locator('[data-testid="legend-disk"] [data-series]').count()).toBeGreaterThan(0);
      await screenshot(page, 'metrics-tab-desktop');
      await page.emulateMedia({ colorScheme: 'dark' });
      await expect.poll(() => drawn('cpu')).toBeGreaterThan(0);
      await screenshot(page, 'metrics-tab-desktop-dark');
      await page.emulateMedia({ colorScheme: 'light' });

      // Zoom: a drag across the CPU chart narrows every chart's range; Reset zoom undoes it.
      const reset = page.getByTestId('metrics-reset');
      expect(await reset.isDisabled()).toBe(true);
      // A change of colour scheme redraws the charts: wait for the drawn plot area, not a box mid-redraw.
      await metrics.locator('[data-chart="cpu"] .u-over').waitFor({ state: 'visible' });
      await expect.poll(async () => (await metrics.locator('[data-chart="cpu"] .u-over').boundingBox())?.width ?? 0).toBeGreaterThan(20);
      const over = await metrics.locator('[data-chart="cpu"] .u-over').boundingBox();
      if (!over) throw new Error('no chart area to drag across');
      await page.mouse.move(over.x + over.width * 0.5, over.y + over.height / 2);
      await page.mouse.down();
      await page.mouse.move(over.x + over.width * 0.9, over.y + over.height / 2, { steps: 5 });
      await page.mouse.up();
      await expect.poll(() => reset.isEnabled()).toBe(true);
      await reset.click();
      await expect.poll(() => reset.isDisabled()).toBe(true);

      await metrics.locator('[data-range="24h"]').click();
      // A new history answer: the 24-hour range comes from the 1-minute tier or coarser.
      await expect.poll(() => metrics.getAttribute('data-step').then(Number), { timeout: 30_000 }).toBeGreaterThanOrEqual(60_000);
      await expect.poll(() => drawn('cpu')).toBeGreaterThan(0);

      await page.setViewportSize({ width: 360, height: 800 });
      await metrics.locator('[data-range="1h"]').click();
      await expect.poll(() => metrics.getAttribute('data-step').then(Number)).toBeLessThan(60_000);
      await expect.poll(() => page.getByTestId('legend-cpu').locator('.value').textContent()).toMatch(/%$/);
      // Charts fit the narrow screen: nothing wider than the viewport.
      await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
      await screenshot(page, 'metrics-tab-360', true);
      await page.setViewportSize({ width: 1280, height: 800 });
    }));

  test('the dashboard lists the host whose CPU a burner raises first', () =>
    step(async () => {
      const { page } = stack;
      burner = spawn('sh', ['-c', 'exec yes > /dev/null'], { stdio: 'ignore' });
      // Two samples of the agent (5 s apart) with the burner running.
      await new Promise((r) => setTimeout(r, 11_000));
      await page.locator('[data-nav="dashboard"]').click();
      const rows = page.locator('[data-testid="fleet-health"] > li');
      await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(2);
      await expect.poll(() => rows.first().getAttribute('data-cpu'), { timeout: 30_000 }).not.toBe('');
      await expect.poll(() => rows.nth(1).getAttribute('data-host'), { timeout: 30_000 }).toBe(cold);
      expect(await rows.first().getAttribute('data-host')).toBe(hot);
      expect(Number(await rows.first().getAttribute('data-cpu'))).toBeGreaterThan(20);
      // The sparklines are drawn from the history answer.
      expect(await rows.first().locator('svg.cpu path').getAttribute('d')).toMatch(/^M/);
      await screenshot(page, 'dashboard-desktop', true);
      await page.setViewportSize({ width: 360, height: 800 });
      await screenshot(page, 'dashboard-360', true);
      await page.setViewportSize({ width: 1280, height: 800 });
      burner.kill('SIGKILL');
      burner = undefined;
    }));
});
