// The PWA Jobs page (issue 14) against the real stack: a fleet made in the browser, two agents.
// A job made in the editor (the schedule helper lists five times in the job's time zone, a bad
// schedule shows parseSchedule's sentence and blocks saving) is written to the fleet store and
// listed, also after a reload. With the agent side of jobs (capabilities/jobs/agent.ts, branch
// jobs-agent) the hosts run it: the matrix fills with runs, a run's log shows its output, the full
// log comes from the host's journal, and Run now with a parameter shows each host's run. A value
// failing the parameter's pattern is refused in the page before anything is sent. Screenshots at
// 360 px, light and dark.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ROOT, type Proc } from '../harness.ts';
import { browserAs, createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

/** Whether this branch has the agent side of jobs (scheduler, runner, the `jobs` handler). */
const agentRunsJobs = existsSync(join(ROOT, 'capabilities/jobs/agent.ts'));
const MARK = `m${process.pid}x${Math.floor(Math.random() * 1e6)}`;

describe('the Jobs page', () => {
  let stack: Stack;
  let agents: (Proc & { id: string })[] = [];
  let failures = 0;

  beforeAll(async () => {
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `jobs-failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }

  test('a fleet with two agents online', () =>
    step(async () => {
      const { page } = stack;
      await createFleetInUi(page, stack.url);
      const { token } = await makeTokenInUi(page, 2);
      agents = await Promise.all([stack.startAgent(token, 'job-a', ['--tag', 'role=web']), stack.startAgent(token, 'job-b', ['--tag', 'role=web'])]);
      for (const agent of agents) await page.locator(`tr[data-host="${agent.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
    }));

  test('the editor: the schedule helper shows five times in the job time zone, a bad schedule its error, and the saved job is listed', () =>
    step(async () => {
      const { page } = stack;
      await page.locator('[data-nav="jobs"]').click();
      await page.getByTestId('jobs-empty').waitFor();
      await page.getByTestId('job-new').click();
      await page.getByTestId('job-editor').waitFor();
      // An empty name is refused with jobFromFile's sentence, and Save is off.
      await expect.poll(() => page.getByTestId('job-error').textContent()).toContain('name');
      expect(await page.getByTestId('job-save').isDisabled()).toBe(true);

      await page.locator('#job-name').fill('greet');
      await page.locator('#job-target').fill('tag:role=web');
      await expect.poll(() => page.getByTestId('job-target-count').textContent()).toBe('2 hosts match now (2 online)');
      await page.locator('#job-command').fill(`echo hello {who} ${MARK}`);
      await page.locator('#job-timezone').fill('Asia/Tokyo');
      await page.locator('#job-schedule').fill('0 30 9 * * *');
      const times = page.locator('[data-testid="schedule-times"] li');
      await expect.poll(() => times.count()).toBe(5);
      const shown = await times.allTextContents();
      // 09:30:00 every day in Tokyo, whatever the browser's zone, on consecutive days.
      for (const t of shown) expect(t).toMatch(/^\d{4}-\d{2}-\d{2} 09:30:00$/);
      expect(new Set(shown.map((t) => t.slice(0, 10))).size).toBe(5);
      expect(await page.getByTestId('schedule-helper').textContent()).toContain('Asia/Tokyo');

      await page.locator('#job-schedule').fill('*/2 * *');
      await expect.poll(() => page.getByTestId('schedule-error').textContent()).toContain('a cron pattern has 5 to 7 fields');
      expect(await page.getByTestId('job-save').isDisabled()).toBe(true);
      await page.locator('#job-schedule').fill('*/2 * * * * *');
      await expect.poll(() => times.count()).toBe(5);
      const seconds = (await times.allTextContents()).map((t) => Number(t.slice(-2)));
      for (const s of seconds) expect(s % 2).toBe(0);

      // A parameter with a pattern; the placeholder inside double quotes is refused, bare it is fine.
      await page.getByTestId('add-param').click();
      await page.locator('#p-name-0').fill('who');
      await page.locator('#p-default-0').fill('world');
      await page.locator('#p-pattern-0').fill('[a-z]+');
      await page.locator('#job-command').fill(`echo "hello {who}" ${MARK}`);
      await expect.poll(() => page.getByTestId('job-error').textContent()).toContain('{who} inside double quotes');
      await page.locator('#job-command').fill(`echo hello {who} ${MARK}`);
      await page.getByTestId('job-valid').waitFor();
      // Overlap queue: a "Run now" that lands while a scheduled run is still going waits for it
      // instead of being skipped (the default), so the test does not depend on when it clicks.
      await page.locator('[data-testid="job-editor"] details summary').click();
      await page.locator('#job-overlap').selectOption('queue');
      await page.locator('#job-timeoutSec').fill('60');
      await screenshot(page, 'jobs-editor-1280', true);

      await page.getByTestId('job-save').click();
      await page.getByTestId('job-detail').waitFor();
      expect(await page.getByTestId('job-enabled').textContent()).toBe('enabled');
      expect(await page.getByTestId('job-detail').textContent()).toContain('overlap queue, timeout 60 s');
      await page.locator('[data-nav="jobs"]').click();
      const row = page.locator('[data-testid="job-list"] li[data-job="greet"]');
      await row.waitFor();
      expect(await row.textContent()).toContain('*/2 * * * * *');
      expect(await row.textContent()).toContain('tag:role=web');
      // Listed again after a reload: the document came back from the store's cache and sync.
      await page.reload();
      await row.waitFor({ timeout: 30_000 });
      expect(await row.getByTestId('job-next-run').textContent()).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/);
    }));

  test('run now refuses a value that fails the parameter pattern, naming the parameter, before sending', () =>
    step(async () => {
      const { page } = stack;
      await page.locator('[data-testid="job-list"] li[data-job="greet"] a').click();
      await page.getByTestId('job-run-now').waitFor();
      await page.locator('#run-who').fill('Ann; rm -rf /');
      await page.getByTestId('job-run-now-go').click();
      await expect.poll(() => page.getByTestId('job-run-now-error').textContent()).toMatch(/^parameter who: .*does not match the pattern \[a-z\]\+/);
      expect(await page.getByTestId('job-run-now-results').count()).toBe(0);
    }));

  test.skipIf(!agentRunsJobs)('the matrix fills with runs on both hosts and a run shows its output and full log', () =>
    step(async () => {
      const { page } = stack;
      // Hosts report runs through the store; the page syncs every 30 s and on a reload.
      await expect
        .poll(
          async () => {
            await page.reload();
            await page.getByTestId('job-detail').waitFor();
            return page.locator('[data-testid="job-matrix"] tbody tr:has(.cell[data-status="ok"])').count();
          },
          { timeout: 100_000, interval: 5000 },
        )
        .toBe(2);
      const cell = page.locator(`[data-testid="job-matrix"] tr[data-host="${agents[0]!.id}"] .cell[data-status="ok"]`).first();
      expect(await cell.getAttribute('title')).toMatch(/^ok · \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} · exit 0$/);
      await cell.click();
      await expect.poll(() => page.getByTestId('job-run-stdout').textContent()).toBe(`hello world ${MARK}\n`);
      await page.getByTestId('job-run-full-log').click();
      await page.getByTestId('job-run-full').waitFor({ timeout: 30_000 });
      expect(await page.getByTestId('job-run-stdout').textContent()).toBe(`hello world ${MARK}\n`);
      await page.locator('[data-nav="jobs"]').click();
      const row = page.locator('[data-testid="job-list"] li[data-job="greet"]');
      await expect.poll(() => row.getByTestId('job-hosts').textContent()).toContain('2 ok');
    }),
  );

  test.skipIf(!agentRunsJobs)('run now with a parameter runs on both hosts and shows each run', () =>
    step(async () => {
      const { page } = stack;
      await page.locator('[data-testid="job-list"] li[data-job="greet"] a').click();
      await page.locator('#run-who').fill('ann');
      await page.getByTestId('job-run-now-go').click();
      for (const agent of agents) {
        const result = page.locator(`[data-testid="job-run-now-results"] li[data-host="${agent.id}"][data-state="done"]`);
        await result.waitFor({ timeout: 60_000 });
        expect(await result.locator('[data-status]').getAttribute('data-status')).toBe('ok');
        expect(await result.getByTestId('job-run-now-stdout').textContent()).toBe(`hello ann ${MARK}\n`);
      }
    }),
  );

  test.skipIf(!agentRunsJobs)('the host page Jobs tab lists the job from the agent, its runs with their logs, and runs it on that host', () =>
    step(async () => {
      const { page } = stack;
      const host = agents[1]!;
      await page.goto(`${stack.url}#/hosts/${host.id}`);
      await page.locator('[data-testid="host-tabs"] [data-tab="jobs"]').click();
      const item = page.locator('[data-testid="jobs-panel"] li[data-job="greet"]');
      await item.waitFor({ timeout: 30_000 });
      expect(await item.textContent()).toContain('*/2 * * * * *');
      await item.locator('button.job').click();
      // The invoked run is among the runs the host sends (newest first in the row): its log has the parameter's value.
      const invoked = item.locator('[data-testid="jobs-panel-runs"] .cell[title*="invoke"]').first();
      await invoked.click();
      await expect.poll(() => item.getByTestId('job-run-stdout').textContent()).toBe(`hello ann ${MARK}\n`);
      await item.locator('#run-who').fill('bob');
      await item.getByTestId('job-run-now-go').click();
      const result = item.locator(`[data-testid="job-run-now-results"] li[data-host="${host.id}"][data-state="done"]`);
      await result.waitFor({ timeout: 60_000 });
      expect(await result.getByTestId('job-run-now-stdout').textContent()).toBe(`hello bob ${MARK}\n`);
      // One host only: the other agent was not asked.
      expect(await item.locator('[data-testid="job-run-now-results"] li').count()).toBe(1);
      // Refresh reads the open job's runs again: both invoked runs are listed.
      await page.locator('[data-testid="jobs-panel"] button', { hasText: 'Refresh' }).click();
      await expect.poll(() => item.locator('[data-testid="jobs-panel-runs"] .cell[title*="invoke"]').count(), { timeout: 30_000 }).toBe(2);
    }),
  );

  test('disable, then enable, from the job page', () =>
    step(async () => {
      const { page } = stack;
      await page.goto(`${stack.url}#/jobs/greet`);
      await page.getByTestId('job-toggle').click();
      await expect.poll(() => page.getByTestId('job-enabled').textContent()).toBe('disabled');
      await page.locator('[data-nav="jobs"]').click();
      expect(await page.locator('[data-testid="job-list"] li[data-job="greet"]').getAttribute('data-enabled')).toBe('false');
      await page.goto(`${stack.url}#/jobs/greet`);
      await page.getByTestId('job-toggle').click();
      await expect.poll(() => page.getByTestId('job-enabled').textContent()).toBe('enabled');
    }));

  test('screenshots at 360 px, light and dark: list, job, editor', () =>
    step(async () => {
      const { page } = stack;
      await page.setViewportSize({ width: 360, height: 780 });
      // The last toast would cover the bottom navigation in the pictures.
      for (const dismiss of await page.getByRole('button', { name: 'Dismiss' }).all()) await dismiss.click();
      // Nothing wider than the phone's screen.
      const width = () => page.evaluate(() => document.documentElement.scrollWidth);
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.goto(`${stack.url}#/jobs`);
        await page.getByTestId('job-list').waitFor();
        await screenshot(page, `jobs-list-360-${scheme}`);
        expect(await width()).toBeLessThanOrEqual(360);
        await page.goto(`${stack.url}#/jobs/greet`);
        await page.getByTestId('job-detail').waitFor();
        const cell = page.locator('[data-testid="job-matrix"] .cell').first();
        if (await cell.count()) await cell.click();
        await screenshot(page, `jobs-detail-360-${scheme}`, true);
        expect(await width()).toBeLessThanOrEqual(360);
        await page.goto(`${stack.url}#/jobs/greet?edit`);
        await page.getByTestId('job-editor').waitFor();
        await screenshot(page, `jobs-editor-360-${scheme}`, true);
        expect(await width()).toBeLessThanOrEqual(360);
        if (agentRunsJobs) {
          await page.goto(`${stack.url}#/hosts/${agents[0]!.id}?tab=jobs`);
          await page.locator('[data-testid="jobs-panel"] li[data-job="greet"] button.job').click();
          await page.locator('[data-testid="jobs-panel-runs"] .cell').first().waitFor();
          await screenshot(page, `jobs-host-tab-360-${scheme}`, true);
        }
      }
      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 1280, height: 800 });
    }));

  test('a viewer device gets no New job button and a read-only editor', () =>
    step(async () => {
      const viewer = await browserAs(stack, 'viewer phone', 'viewer');
      await viewer.goto(`${stack.url}#/jobs`);
      await viewer.reload(); // the app reads its identity when it starts
      await viewer.getByRole('heading', { name: 'Jobs' }).waitFor({ timeout: 30_000 });
      expect(await viewer.getByTestId('job-new').count()).toBe(0);
      await viewer.goto(`${stack.url}#/jobs?new`);
      await viewer.getByTestId('job-readonly').waitFor();
      expect(await viewer.getByTestId('job-save').isDisabled()).toBe(true);
      expect(await viewer.locator('#job-command').isDisabled()).toBe(true);
      await viewer.context().close();
    }));

  test('delete: the job leaves the list', () =>
    step(async () => {
      const { page } = stack;
      await page.goto(`${stack.url}#/jobs/greet`);
      page.once('dialog', (d) => void d.accept());
      await page.getByTestId('job-delete').click();
      await page.getByTestId('jobs-empty').waitFor({ timeout: 30_000 });
    }));
});
