// A user's first session in the PWA, against the real signaling server and real agents: create
// the fleet, enroll three agents with a token made in the UI, run a command on a tag, then find
// the task in history after a reload and after going offline.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Proc } from '../harness.ts';
import { createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

describe('enroll and run in the browser', () => {
  let stack: Stack;
  /** web-a and web-b (role=web), db-c (role=db), in that order. */
  let agents: (Proc & { id: string })[] = [];
  let taskId = '';
  let failures = 0;

  beforeAll(async () => {
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  /** Runs `body`; on failure adds every process's log to the error. */
  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }

  test('creates a fleet, makes a token, and three agents join online and accepted', () =>
    step(async () => {
      const { page } = stack;
      await createFleetInUi(page, stack.url);
      const { token, install } = await makeTokenInUi(page, 5);
      expect(install).toMatch(
        new RegExp(`^curl -fsSL ${stack.url}agent/flotilla-agent\\.mjs -o flotilla-agent\\.mjs && node flotilla-agent\\.mjs join flt1\\.`),
      );
      // The three start together, as three people pasting the command on three hosts would.
      agents = await Promise.all([
        stack.startAgent(token, 'web-a', ['--tag', 'role=web']),
        stack.startAgent(token, 'web-b', ['--tag', 'role=web']),
        stack.startAgent(token, 'db-c', ['--tag', 'role=db']),
      ]);
      for (const agent of agents) {
        await page.locator(`tr[data-host="${agent.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
      }
      const rows = page.locator('[data-testid="host-table"] tbody tr');
      await expect.poll(() => rows.count()).toBe(3);
      for (const [agent, tag] of [
        [agents[0]!, 'role=web'],
        [agents[1]!, 'role=web'],
        [agents[2]!, 'role=db'],
      ] as const) {
        const row = page.locator(`tr[data-host="${agent.id}"]`);
        expect(await row.locator('td[data-label="Tags"]').textContent()).toContain(tag);
        expect(await row.locator('td[data-label="OS"]').textContent()).toBe('linux');
      }
      await expect.poll(() => page.getByTestId('host-counts').textContent()).toBe('3 hosts · 3 online · 0 offline · 0 pending');
      expect(await page.getByTestId('pending-hosts').count()).toBe(0);
      // The token is listed as used by all three agents.
      await page.getByTestId('tokens').locator('summary').click();
      const used = await page.getByTestId('tokens').locator('li').first().textContent();
      for (const agent of agents) expect(used).toContain(agent.id.slice(0, 8));
    }));

  test('runs a command on tag:role=web and shows each host output, status and exit code', () =>
    step(async () => {
      const { page } = stack;
      await page.locator('[data-nav="run"]').click();
      await page.getByTestId('selector').fill('tag:role=web');
      await expect.poll(() => page.getByTestId('match-count').getAttribute('data-count')).toBe('2');
      await page.getByTestId('command').fill('echo hello-$HOSTNAME');
      await page.getByTestId('run').click();
      const result = page.locator('[data-testid="run-result"][data-running="false"]');
      await result.waitFor({ timeout: 60_000 });
      taskId = (await result.getAttribute('data-task')) ?? '';
      expect(taskId).not.toBe('');
      const names = new Map([
        [agents[0]!.id, 'web-a'],
        [agents[1]!.id, 'web-b'],
      ]);
      for (const [id, name] of names) {
        const pane = result.locator(`article[data-host="${id}"]`);
        expect(await pane.getAttribute('data-status')).toBe('ok');
        expect((await pane.getByTestId('output').textContent())?.trim()).toBe(`hello-${name}`);
        expect(await pane.getByTestId('exit-code').textContent()).toBe('exit 0');
      }
      // db-c is not role=web: it is not part of the task.
      expect(await result.locator('article[data-host]').count()).toBe(2);
      expect(await result.locator(`article[data-host="${agents[2]!.id}"]`).count()).toBe(0);
    }));

  test('a failing command shows failed with its exit code', () =>
    step(async () => {
      const { page } = stack;
      await page.getByTestId('selector').fill(`id:${agents[0]!.id.slice(0, 12)}`);
      await expect.poll(() => page.getByTestId('match-count').getAttribute('data-count')).toBe('1');
      await page.getByTestId('command').fill('echo oops >&2; exit 3');
      await page.getByTestId('run').click();
      await page.locator(`[data-testid="run-result"][data-running="false"]:not([data-task="${taskId}"])`).waitFor({ timeout: 60_000 });
      const pane = page.locator(`[data-testid="run-result"] article[data-host="${agents[0]!.id}"]`);
      expect(await pane.getAttribute('data-status')).toBe('failed');
      expect(await pane.getByTestId('exit-code').textContent()).toBe('exit 3');
      expect((await pane.getByTestId('output').textContent())?.trim()).toBe('oops');
      await page.getByTestId('rerun-failed').waitFor();
    }));

  test('history survives a reload, and offline the app shell opens from the service worker', () =>
    step(async () => {
      const { page, context } = stack;
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
      await page.reload();
      await page.locator('[data-nav="history"]').click();
      await page.locator(`[data-testid="history"] [data-task="${taskId}"]`).waitFor();
      expect(await page.locator('[data-testid="history"] li').count()).toBe(2);
      // Served by the service worker from here on.
      expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
      await context.setOffline(true);
      try {
        await page.reload();
        await page.locator('[data-nav="history"]').click();
        await page.locator(`[data-testid="history"] [data-task="${taskId}"]`).click();
        const hosts = page.getByTestId('task-hosts');
        for (const id of agents.slice(0, 2).map((a) => a.id)) {
          expect(await hosts.locator(`article[data-host="${id}"]`).getAttribute('data-status')).toBe('ok');
        }
        expect(await hosts.getByTestId('output').allTextContents()).toEqual(
          expect.arrayContaining([expect.stringContaining('hello-web-a'), expect.stringContaining('hello-web-b')]),
        );
        await page
          .getByTestId('signal-down')
          .or(page.getByRole('heading', { name: /hello-\$HOSTNAME/ }))
          .first()
          .waitFor();
      } finally {
        await context.setOffline(false);
      }
    }));

  test('screenshots at phone and desktop sizes', () =>
    step(async () => {
      const { page } = stack;
      await page.goto(stack.url);
      await page.locator('[data-signal="ok"]').waitFor({ timeout: 30_000 });
      // A task in memory, so the Run page shows output; hash navigation keeps it (no reload).
      const go = (hash: string) => page.evaluate((h) => void (location.hash = h), hash);
      await go('#/run');
      await page.getByTestId('selector').fill('tag:role=web');
      await page.getByTestId('command').fill('uname -sm; echo "hello from $HOSTNAME"; echo warning >&2');
      await page.getByTestId('run').click();
      await page.locator(`[data-testid="run-result"][data-running="false"]`).waitFor({ timeout: 60_000 });
      for (const [size, viewport] of [
        ['desktop', { width: 1280, height: 800 }],
        ['phone', { width: 360, height: 740 }],
      ] as const) {
        await page.setViewportSize(viewport);
        for (const name of ['dashboard', 'hosts', 'run', 'history', 'settings']) {
          await go(`#/${name}`);
          await page.locator(`main[data-page="${name}"]`).waitFor();
          await screenshot(page, `${size}-${name}`);
          await screenshot(page, `${size}-${name}-full`, true);
        }
        await go(`#/history/${encodeURIComponent(taskId)}`);
        await page.getByTestId('task-hosts').waitFor();
        await screenshot(page, `${size}-task`);
      }
      await page.emulateMedia({ colorScheme: 'dark' });
      await go('#/run');
      await screenshot(page, 'phone-run-dark');
      await page.setViewportSize({ width: 1280, height: 800 });
      await go('#/hosts');
      await screenshot(page, 'desktop-hosts-dark');
      await page.emulateMedia({ colorScheme: 'light' });
    }));
});
