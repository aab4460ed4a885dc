// The PWA past its first command, against the real signaling server and two real agents:
// results collected from an agent's journal after the page closed mid-run, each host's
// connection state and path, and the host page with tag editing.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { removeDir, tempDir } from '../harness.ts';
import { createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

describe('hosts, journal and files in the browser', () => {
  let stack: Stack;
  let root: string;
  let failures = 0;
  const ids: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    root = await tempDir('files');
  });

  afterAll(async () => {
    await stack?.stop();
    if (root) await removeDir(root);
  });

  /** Runs `body`; on failure adds a screenshot and every process's log to the error. */
  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `files-failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }

  /** Goes to a page by its hash without reloading (keeps the task in memory). */
  const go = (hash: string) => stack.page.evaluate((h) => void (location.hash = h), hash);

  test('two agents join and show online', () =>
    step(async () => {
      const { page } = stack;
      await createFleetInUi(page, stack.url);
      const { token } = await makeTokenInUi(page, 2);
      for (const name of ['files-a', 'files-b']) {
        const dir = join(root, name);
        await mkdir(dir, { recursive: true });
        const agent = await stack.startAgent(token, name, ['--tag', 'role=files', '--allow-root', dir]);
        ids.push(agent.id);
      }
      for (const id of ids) await page.locator(`tr[data-host="${id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
    }));

  test('a task still running when the page closed gets its result from the journal on the next visit', () =>
    step(async () => {
      const { page, context } = stack;
      await go('#/run');
      await page.getByTestId('selector').fill(`id:${ids[0]!.slice(0, 12)}`);
      await expect.poll(() => page.getByTestId('match-count').getAttribute('data-count')).toBe('1');
      await page.getByTestId('command').fill('echo started; sleep 5; echo done');
      await page.getByTestId('run').click();
      const running = page.locator('[data-testid="run-result"][data-running="true"]');
      const task = (await running.getAttribute('data-task', { timeout: 30_000 })) ?? '';
      expect(task).not.toBe('');
      // The agent has it (its output arrived): close the page while the command sleeps.
      await expect.poll(() => running.getByTestId('output').textContent(), { timeout: 30_000 }).toContain('started');
      await page.close();

      const next = await context.newPage();
      stack.page = next;
      await next.goto(`${stack.url}#/history/${encodeURIComponent(task)}`);
      const pane = next.locator(`[data-testid="task-hosts"] article[data-host="${ids[0]}"]`);
      await pane.waitFor();
      // Collected once the app reconnects to the host and the command has finished there.
      await expect.poll(() => pane.getAttribute('data-status'), { timeout: 60_000 }).toBe('ok');
      expect(await pane.getByTestId('exit-code').textContent()).toBe('exit 0');
      expect((await pane.getByTestId('output').textContent())?.trim().split('\n')).toEqual(['started', 'done']);
      await next.locator('[data-nav="history"]').click();
      expect(await next.locator(`[data-testid="history"] [data-task="${task}"] [data-status]`).getAttribute('data-status')).toBe('ok');
    }));

  test('the inventory and the host page show the connection: direct, with a round-trip time', () =>
    step(async () => {
      const { page } = stack;
      await go('#/hosts');
      const conn = page.locator(`tr[data-host="${ids[0]}"] td[data-label="Connection"]`);
      await expect.poll(() => conn.getAttribute('data-connection'), { timeout: 30_000 }).toBe('connected');
      expect(await conn.getAttribute('data-relayed')).toBe('false');
      expect(await conn.textContent()).toMatch(/^direct/);
      const link = page.locator(`tr[data-host="${ids[1]}"]`).getByTestId('host-link');
      const hostname = (await link.textContent()) ?? '';
      await link.click();
      await page.locator('main[data-page="hosts"] [data-testid="facts"]').waitFor();
      expect(await page.locator('[data-fact="hostname"]').textContent()).toBe(hostname);
      expect(await page.locator('[data-fact="agentVersion"]').textContent()).toMatch(/^\d+\.\d+\.\d+/);
      expect(await page.locator('[data-fact="os"]').textContent()).toMatch(/^linux /);
      // Opening the page connects on demand.
      await page.locator('[data-testid="connection"][data-state="connected"]').waitFor({ timeout: 30_000 });
      expect(await page.getByTestId('path').getAttribute('data-relayed')).toBe('false');
      await expect.poll(() => page.getByTestId('rtt').textContent(), { timeout: 30_000 }).toMatch(/^\d+(\.\d)? ms$/);
    }));

  test('tags are set and removed from the host page', () =>
    step(async () => {
      const { page } = stack;
      const tags = page.getByTestId('tags');
      await page.getByTestId('tag-key').fill('env');
      await page.getByTestId('tag-value').fill('prod');
      await page.getByTestId('tag-add').click();
      await tags.locator('[data-tag="env=prod"]').waitFor({ timeout: 30_000 });
      expect(await tags.locator('[data-tag="role=files"]').count()).toBe(1);
      await go('#/hosts');
      expect(await page.locator(`tr[data-host="${ids[1]}"] td[data-label="Tags"]`).textContent()).toContain('env=prod');
      await go(`#/hosts/${ids[1]}`);
      await tags.getByRole('button', { name: 'Remove tag env' }).click();
      await tags.locator('[data-tag="env=prod"]').waitFor({ state: 'detached', timeout: 30_000 });
      expect(await tags.locator('[data-tag="role=files"]').count()).toBe(1);
      // The host's own history lists the journal task from before on host A only.
      expect(await page.getByTestId('host-history').locator('[data-task]').count()).toBe(0);
    }));
});
