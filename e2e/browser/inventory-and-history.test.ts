// The PWA for an operator past the first day, on one stack of real agents: a join token for
// one host that a second agent tries to use (pending, accepted in the UI) and a third one that
// is rejected; the inventory's search and filters; cancel; re-run on the failed hosts only;
// history's filters, search, detail view, re-run and exports; the dashboard's counts; results
// collected from the journal for a push of several files and a fetch whose page closed; the
// fetch size cap; and, with the browser's clock moved on by days, the date filters and the
// retention setting.
//
// Hosts: alpha (one-host token; role=web, eu-west, file root), bravo (role=web, us-east) and
// charlie (role=db, eu-west) from a five-host token; delta (role=web, ap-south) and echo try the
// used-up one-host token: delta is accepted, echo rejected.

import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { removeDir, tempDir, type Proc } from '../harness.ts';
import { createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

type Agent = Proc & { id: string };
const DAY = 86_400_000;
/** MAX_FETCH_BYTES in web/src/lib/state/work.ts. */
const FETCH_CAP = 256 * 1024 * 1024;

/** True while a process whose command line matches `pattern` runs (pgrep -f). */
function running(pattern: string): Promise<boolean> {
  return new Promise((res) => execFile('pgrep', ['-f', pattern], (error) => res(!error)));
}

/** Rows of a CSV text (quoted cells with commas, quotes and newlines). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  return rows;
}

/** YYYY-MM-DD of `ms` in local time (what a date input holds). */
function localDay(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

describe('inventory, tasks and history in the browser', () => {
  let stack: Stack;
  let root: string;
  let failures = 0;
  const hosts: Record<string, Agent> = {};
  const names = new Map<string, string>();
  let tokenOne = '';
  /** Task ids, by what they were. */
  const tasks: Record<string, string> = {};

  beforeAll(async () => {
    stack = await startStack();
    root = await tempDir('inventory');
  });

  afterAll(async () => {
    await stack?.stop();
    if (root) await removeDir(root);
  });

  const page = () => stack.page;
  /** Goes to a page by its hash without reloading (keeps the task in memory). */
  const go = (hash: string) => page().evaluate((h) => void (location.hash = h), hash);
  const startAgent = async (token: string, name: string, flags: string[] = []) => {
    const agent = await stack.startAgent(token, name, flags);
    hosts[name] = agent;
    names.set(agent.id, name);
    return agent;
  };
  const id = (name: string) => hosts[name]!.id;

  /** Runs `body`; on failure adds a screenshot and every process's log to the error. */
  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(page(), `inventory-failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }

  /** The hostnames of the inventory rows shown, sorted. */
  const shownHosts = () =>
    page()
      .locator('[data-testid="host-table"] tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-host') ?? ''))
      .then((ids) => ids.map((i) => names.get(i) ?? i).sort());

  /** The task ids the history list shows, newest first. */
  const shownTasks = () =>
    page()
      .locator('[data-testid="history"] a[data-task]')
      .evaluateAll((links) => links.map((a) => a.getAttribute('data-task') ?? ''));

  /** Fills the Run page and starts the task; returns its result section once it ended. */
  async function runOnPage(selector: string, count: number, fill: () => Promise<void>) {
    await page().getByTestId('selector').fill(selector);
    await expect.poll(() => page().getByTestId('match-count').getAttribute('data-count')).toBe(String(count));
    await fill();
    const before = await page()
      .locator('[data-testid="run-result"]')
      .getAttribute('data-task', { timeout: 500 })
      .catch(() => null);
    await page().getByTestId('run').click();
    const result = page().locator(`[data-testid="run-result"][data-running="false"]${before ? `:not([data-task="${before}"])` : ''}`);
    await result.waitFor({ timeout: 60_000 });
    return result;
  }

  /** Runs a command from the Run page. */
  async function runCommand(selector: string, count: number, command: string) {
    await go('#/run');
    await page().getByTestId('mode-command').click();
    return runOnPage(selector, count, () => page().getByTestId('command').fill(command));
  }

  test('a one-host token enrolls one agent; a second agent with it waits pending and is accepted in the UI; a rejected one cannot be targeted', () =>
    step(async () => {
      await createFleetInUi(page(), stack.url);
      tokenOne = (await makeTokenInUi(page(), 1)).token;
      const tokenFive = (await makeTokenInUi(page(), 5)).token;
      await Promise.all([
        startAgent(tokenOne, 'alpha', ['--tag', 'role=web', '--region', 'eu-west', '--allow-root', root]),
        startAgent(tokenFive, 'bravo', ['--tag', 'role=web', '--region', 'us-east']),
        startAgent(tokenFive, 'charlie', ['--tag', 'role=db', '--region', 'eu-west']),
      ]);
      for (const name of ['alpha', 'bravo', 'charlie'])
        await page()
          .locator(`tr[data-host="${id(name)}"][data-state="online"]`)
          .waitFor({ timeout: 60_000 });

      // The one-host token is used up by alpha: two more agents with it wait for a decision.
      await Promise.all([startAgent(tokenOne, 'delta', ['--tag', 'role=web', '--region', 'ap-south']), startAgent(tokenOne, 'echo')]);
      const pending = page().getByTestId('pending-hosts');
      for (const name of ['delta', 'echo']) {
        // Listed by hostname once the app has read its facts.
        await expect
          .poll(
            () =>
              pending
                .locator(`li[data-host="${id(name)}"]`)
                .textContent()
                .catch(() => ''),
            { timeout: 60_000 },
          )
          .toContain(name);
        expect(
          await page()
            .locator(`tr[data-host="${id(name)}"]`)
            .getAttribute('data-state'),
        ).toBe('pending');
      }
      await page().getByTestId('tokens').locator('summary').click();
      const one = page().locator(`[data-testid="tokens"] li`).filter({ hasText: 'used by' });
      const usedBy = await one.allTextContents();
      expect(usedBy.filter((t) => t.includes(id('alpha').slice(0, 8)))).toHaveLength(1);
      expect(usedBy.join(' ')).not.toContain(id('delta').slice(0, 8));
      await page().setViewportSize({ width: 360, height: 740 });
      await screenshot(page(), 'phone-hosts-pending', true);
      await page().setViewportSize({ width: 1280, height: 800 });
      await screenshot(page(), 'desktop-hosts-pending');

      await pending
        .locator(`li[data-host="${id('delta')}"]`)
        .getByTestId('accept')
        .click();
      await page()
        .locator(`tr[data-host="${id('delta')}"][data-state="online"]`)
        .waitFor({ timeout: 30_000 });
      await pending
        .locator(`li[data-host="${id('echo')}"]`)
        .getByTestId('reject')
        .click();
      await page()
        .locator(`tr[data-host="${id('echo')}"][data-state="rejected"]`)
        .waitFor({ timeout: 30_000 });
      await pending.waitFor({ state: 'detached' });

      // Work goes to the four accepted hosts, never to the rejected one.
      await go('#/run');
      await page()
        .getByTestId('selector')
        .fill(`id:${id('echo').slice(0, 12)}`);
      await expect.poll(() => page().getByTestId('match-count').textContent()).toContain('No host matches.');
      expect(await page().getByTestId('run').isDisabled()).toBe(true);
      const result = await runCommand('*', 4, 'echo hi-$HOSTNAME');
      tasks['all'] = (await result.getAttribute('data-task'))!;
      expect(await result.locator('article[data-host]').count()).toBe(4);
      for (const name of ['alpha', 'bravo', 'charlie', 'delta']) {
        const pane = result.locator(`article[data-host="${id(name)}"]`);
        expect(await pane.getAttribute('data-status')).toBe('ok');
        expect((await pane.getByTestId('output').textContent())?.trim()).toBe(`hi-${name}`);
      }
    }));

  test('search and filters (tag, OS, status, region) narrow the inventory; Enter or a click on a row opens the host', () =>
    step(async () => {
      await go('#/hosts');
      const search = page().getByTestId('host-search');
      const filter = (name: string, value: string) => page().getByTestId(`filter-${name}`).selectOption(value);
      await expect.poll(shownHosts).toEqual(['alpha', 'bravo', 'charlie', 'delta', 'echo']);
      await search.fill('bra');
      expect(await shownHosts()).toEqual(['bravo']);
      await search.fill('role=db');
      expect(await shownHosts()).toEqual(['charlie']);
      await search.fill(id('delta').slice(0, 10));
      expect(await shownHosts()).toEqual(['delta']);
      await search.fill('');
      await filter('tag', 'role=web');
      expect(await shownHosts()).toEqual(['alpha', 'bravo', 'delta']);
      await filter('region', 'eu-west');
      expect(await shownHosts()).toEqual(['alpha']);
      await filter('tag', '');
      expect(await shownHosts()).toEqual(['alpha', 'charlie']);
      await filter('region', '');
      await filter('state', 'rejected');
      expect(await shownHosts()).toEqual(['echo']);
      await filter('state', 'online');
      expect(await shownHosts()).toEqual(['alpha', 'bravo', 'charlie', 'delta']);
      // Every agent here runs on Linux: the OS menu offers linux, and it keeps them all.
      expect(await page().getByTestId('filter-os').locator('option').allTextContents()).toEqual(['any OS', 'linux']);
      await filter('os', 'linux');
      expect(await shownHosts()).toEqual(['alpha', 'bravo', 'charlie', 'delta']);
      await filter('state', 'pending');
      expect(await shownHosts()).toEqual([]);
      await page().getByText('No hosts match.').waitFor();
      await page().setViewportSize({ width: 360, height: 740 });
      await filter('state', '');
      await filter('region', 'eu-west');
      await screenshot(page(), 'phone-hosts-filtered', true);
      await page().setViewportSize({ width: 1280, height: 800 });
      await filter('region', '');
      await filter('os', '');

      // A hostname typed in the search and Enter: its page.
      await search.fill('charlie');
      await search.press('Enter');
      await expect.poll(() => page().evaluate(() => location.hash)).toBe(`#/hosts/${id('charlie')}`);
      expect(await page().locator('[data-fact="hostname"]').textContent()).toBe('charlie');
      // A click anywhere on a row opens that host too.
      await go('#/hosts');
      await page()
        .locator(`tr[data-host="${id('bravo')}"] td[data-label="Region"]`)
        .click();
      await expect.poll(() => page().evaluate(() => location.hash)).toBe(`#/hosts/${id('bravo')}`);
      expect(await page().locator('[data-fact="hostname"]').textContent()).toBe('bravo');
    }));

  test('cancel stops a running command, and its process is gone from the host', () =>
    step(async () => {
      const marker = `30.${randomInt(100_000, 999_999)}`;
      await go('#/run');
      await page().getByTestId('mode-command').click();
      await page()
        .getByTestId('selector')
        .fill(`id:${id('alpha').slice(0, 12)}`);
      await expect.poll(() => page().getByTestId('match-count').getAttribute('data-count')).toBe('1');
      await page().getByTestId('command').fill(`sleep ${marker}`);
      await page().getByTestId('run').click();
      const live = page().locator('[data-testid="run-result"][data-running="true"]');
      tasks['cancelled'] = (await live.getAttribute('data-task', { timeout: 30_000 }))!;
      await expect.poll(() => running(`^sleep ${marker}`), { timeout: 30_000 }).toBe(true);
      await live.getByTestId('cancel').click();
      const result = page().locator(`[data-testid="run-result"][data-running="false"][data-task="${tasks['cancelled']}"]`);
      await result.waitFor({ timeout: 30_000 });
      expect(await result.locator(`article[data-host="${id('alpha')}"]`).getAttribute('data-status')).toBe('cancelled');
      await expect.poll(() => running(`^sleep ${marker}`), { timeout: 15_000 }).toBe(false);
      // Cancelled is not a failure to re-run.
      expect(await result.getByTestId('rerun-failed').count()).toBe(0);
    }));

  test('re-run on the failed hosts only: the failed host runs again, the others do not', () =>
    step(async () => {
      const fixed = join(root, 'bravo-fixed');
      const command = `if [ "$HOSTNAME" = bravo ] && [ ! -e ${fixed} ]; then echo broken >&2; exit 4; fi; echo fine-$HOSTNAME`;
      const first = await runCommand('tag:role=web', 3, command);
      tasks['mixed'] = (await first.getAttribute('data-task'))!;
      const bravo = first.locator(`article[data-host="${id('bravo')}"]`);
      expect(await bravo.getAttribute('data-status')).toBe('failed');
      expect(await bravo.getByTestId('exit-code').textContent()).toBe('exit 4');
      for (const name of ['alpha', 'delta']) expect(await first.locator(`article[data-host="${id(name)}"]`).getAttribute('data-status')).toBe('ok');

      await writeFile(fixed, ''); // the operator fixes bravo
      await first.getByTestId('rerun-failed').click();
      const again = page().locator(`[data-testid="run-result"][data-running="false"]:not([data-task="${tasks['mixed']}"])`);
      await again.waitFor({ timeout: 60_000 });
      tasks['rerun'] = (await again.getAttribute('data-task'))!;
      expect(await page().getByTestId('selector').inputValue()).toBe(`id:${id('bravo').slice(0, 16)}`);
      expect(await again.locator('article[data-host]').count()).toBe(1);
      const pane = again.locator(`article[data-host="${id('bravo')}"]`);
      expect(await pane.getAttribute('data-status')).toBe('ok');
      expect((await pane.getByTestId('output').textContent())?.trim()).toBe('fine-bravo');
    }));

  test('history: filters by status, host and date, text search, the detail view, and re-run', () =>
    step(async () => {
      await page().locator('[data-nav="history"]').click();
      const all = [tasks['rerun'], tasks['mixed'], tasks['cancelled'], tasks['all']];
      await expect.poll(shownTasks).toEqual(all);
      const status = page().getByTestId('history-status');
      await status.selectOption('cancelled');
      expect(await shownTasks()).toEqual([tasks['cancelled']]);
      await status.selectOption('failed');
      expect(await shownTasks()).toEqual([tasks['mixed']]);
      // "ok": the tasks that went well everywhere (not the one where bravo failed).
      await status.selectOption('ok');
      expect(await shownTasks()).toEqual([tasks['rerun'], tasks['all']]);
      await status.selectOption('');
      const host = page().getByTestId('history-host');
      expect(await host.locator('option').allTextContents()).toEqual(['any host', 'alpha', 'bravo', 'charlie', 'delta']);
      await host.selectOption({ label: 'charlie' });
      expect(await shownTasks()).toEqual([tasks['all']]);
      await host.selectOption({ label: 'bravo' });
      expect(await shownTasks()).toEqual([tasks['rerun'], tasks['mixed'], tasks['all']]);
      await host.selectOption('');
      const search = page().getByTestId('history-search');
      await search.fill('fine-$HOSTNAME');
      expect(await shownTasks()).toEqual([tasks['rerun'], tasks['mixed']]);
      await search.fill('sleep');
      expect(await shownTasks()).toEqual([tasks['cancelled']]);
      await search.fill('');
      const today = await page().evaluate(() => Date.now());
      await page().getByTestId('history-day').fill(localDay(today));
      expect(await shownTasks()).toEqual(all);
      await page()
        .getByTestId('history-day')
        .fill(localDay(today - DAY));
      expect(await shownTasks()).toEqual([]);
      await page().getByText('No task matches these filters.').waitFor();
      expect(await page().getByTestId('history-count').textContent()).toBe('0 of 4 tasks match');
      await page().getByTestId('history-day').fill('');
      await page().getByTestId('history-since').selectOption({ label: 'last hour' });
      expect(await shownTasks()).toEqual(all);
      await page().getByTestId('history-since').selectOption({ label: 'any time' });

      // The detail view of the task where bravo failed.
      await page().locator(`[data-testid="history"] a[data-task="${tasks['mixed']}"]`).click();
      const detail = page().getByTestId('task-hosts');
      await detail.waitFor();
      expect(await detail.locator('article[data-host]').count()).toBe(3);
      const bravo = detail.locator(`article[data-host="${id('bravo')}"]`);
      expect(await bravo.getAttribute('data-status')).toBe('failed');
      expect(await bravo.getByTestId('exit-code').textContent()).toBe('exit 4');
      expect((await bravo.getByTestId('output').textContent())?.trim()).toBe('broken');
      expect(
        (
          await detail
            .locator(`article[data-host="${id('alpha')}"]`)
            .getByTestId('output')
            .textContent()
        )?.trim(),
      ).toBe('fine-alpha');
      expect(await page().locator('dl.facts').textContent()).toContain('tag:role=web → 3 hosts');
      await page().getByRole('link', { name: 'Run again on 1 failed' }).waitFor();
      await screenshot(page(), 'desktop-task-detail-mixed', true);

      // Run again from history: the Run page has the selector and command; it runs on all three.
      await page().getByRole('link', { name: 'Run again', exact: true }).click();
      await page().locator('main[data-page="run"]').waitFor();
      expect(await page().getByTestId('selector').inputValue()).toBe('tag:role=web');
      expect(await page().getByTestId('command').inputValue()).toContain('fine-$HOSTNAME');
      await expect.poll(() => page().getByTestId('match-count').getAttribute('data-count')).toBe('3');
      await page().getByTestId('run').click();
      const again = page().locator(`[data-testid="run-result"][data-running="false"]:not([data-task="${tasks['rerun']}"])`);
      await again.waitFor({ timeout: 60_000 });
      tasks['fromHistory'] = (await again.getAttribute('data-task'))!;
      for (const name of ['alpha', 'bravo', 'delta']) expect(await again.locator(`article[data-host="${id(name)}"]`).getAttribute('data-status')).toBe('ok');
    }));

  test('history exports what the filters show, as JSON and as CSV', () =>
    step(async () => {
      await go('#/history');
      await page().getByTestId('history-search').fill('fine-$HOSTNAME');
      const shown = [tasks['fromHistory'], tasks['rerun'], tasks['mixed']];
      await expect.poll(shownTasks).toEqual(shown);

      const [json] = await Promise.all([page().waitForEvent('download'), page().getByTestId('export-json').click()]);
      expect(json.suggestedFilename()).toMatch(/^flotilla-history-\d{4}-\d\d-\d\d\.json$/);
      const exported = JSON.parse(await readFile((await json.path())!, 'utf8')) as {
        tasks: { id: string; selector: string; hosts: { hostId: string; status: string; exitCode: number; stdout: string; stderr: string }[] }[];
      };
      expect(exported.tasks.map((t) => t.id)).toEqual(shown);
      const mixed = exported.tasks.find((t) => t.id === tasks['mixed'])!;
      expect(mixed.selector).toBe('tag:role=web');
      expect(mixed.hosts.find((h) => h.hostId === id('bravo'))).toMatchObject({ status: 'failed', exitCode: 4, stderr: 'broken\n' });
      expect(mixed.hosts.find((h) => h.hostId === id('alpha'))).toMatchObject({ status: 'ok', exitCode: 0, stdout: 'fine-alpha\n' });

      const [csv] = await Promise.all([page().waitForEvent('download'), page().getByTestId('export-csv').click()]);
      expect(csv.suggestedFilename()).toMatch(/^flotilla-history-\d{4}-\d\d-\d\d\.csv$/);
      const [header, ...rows] = parseCsv(await readFile((await csv.path())!, 'utf8'));
      expect(header).toEqual([
        'task',
        'started',
        'selector',
        'command',
        'device',
        'host',
        'host_id',
        'status',
        'exit_code',
        'duration_ms',
        'truncated',
        'error',
        'stdout',
        'stderr',
      ]);
      // One row per host of each task: 3 + 1 + 3.
      expect(rows).toHaveLength(7);
      const col = (name: string) => header!.indexOf(name);
      const bravoRow = rows.find((r) => r[col('task')] === tasks['mixed'] && r[col('host')] === 'bravo')!;
      expect([bravoRow[col('status')], bravoRow[col('exit_code')], bravoRow[col('stderr')], bravoRow[col('device')]]).toEqual([
        'failed',
        '4',
        'broken\n',
        'e2e browser',
      ]);
      expect(rows.filter((r) => r[col('task')] === tasks['rerun']).map((r) => [r[col('host')], r[col('status')], r[col('stdout')]])).toEqual([
        ['bravo', 'ok', 'fine-bravo\n'],
      ]);
      await page().getByTestId('history-search').fill('');
    }));

  test('the dashboard counts hosts total, online, offline and pending, tasks of the last 24 hours by status, and links recent failures', () =>
    step(async () => {
      // One more agent with the used-up token (pending), and charlie stopped (offline).
      await startAgent(tokenOne, 'foxtrot');
      await hosts['charlie']!.stop();
      await page().locator('[data-nav="dashboard"]').click();
      const count = (name: string) => page().getByTestId(`count-${name}`).getAttribute('data-count');
      // alpha, bravo, delta online; charlie offline; foxtrot pending; echo rejected is not counted.
      await expect.poll(() => count('pending'), { timeout: 60_000 }).toBe('1');
      await expect.poll(() => count('offline'), { timeout: 30_000 }).toBe('1');
      expect([await count('total'), await count('online')]).toEqual(['5', '3']);
      expect(await page().getByTestId('tasks-24h').getAttribute('data-count')).toBe('5');
      const byStatus = await page()
        .getByTestId('tasks-by-status')
        .locator('li')
        .evaluateAll((items) => Object.fromEntries(items.map((li) => [li.getAttribute('data-status'), li.getAttribute('data-count')])));
      expect(byStatus).toEqual({ ok: '3', mixed: '1', cancelled: '1' });
      // The failure is bravo's in the mixed task; the cancelled one is not a failure.
      const failed = page().getByTestId('recent-failures').locator('li');
      expect(await failed.evaluateAll((items) => items.map((li) => [li.getAttribute('data-task'), li.getAttribute('data-host')]))).toEqual([
        [tasks['mixed'], id('bravo')],
      ]);
      await screenshot(page(), 'desktop-dashboard-counts');
      await page().setViewportSize({ width: 360, height: 740 });
      await screenshot(page(), 'phone-dashboard-counts', true);
      await page().setViewportSize({ width: 1280, height: 800 });
      await failed.first().locator('a').click();
      await expect.poll(() => page().evaluate(() => location.hash)).toBe(`#/history/${tasks['mixed']}`);
      await page()
        .getByTestId('task-hosts')
        .locator(`article[data-host="${id('bravo')}"][data-status="failed"]`)
        .waitFor();
    }));

  /** Closes the page once `ready` holds, opens a new one on the task; returns it. */
  async function closeAndReopen(task: string, ready: () => Promise<boolean>): Promise<Page> {
    await expect.poll(ready, { timeout: 60_000 }).toBe(true);
    await page().close();
    const next = await stack.context.newPage();
    stack.page = next;
    await next.goto(`${stack.url}#/history/${encodeURIComponent(task)}`);
    return next;
  }

  /** Bytes moved so far, from a running pane's progress bar. */
  const progressOf = (pane: ReturnType<Page['locator']>) =>
    pane
      .getByTestId('progress')
      .evaluate((p) => (p as HTMLProgressElement).value)
      .catch(() => 0);

  test('a push of two files left running when the page closed is collected from the journal: the first file arrived, the second did not', () =>
    step(async () => {
      const small = Buffer.from('first file\n');
      const big = Buffer.alloc(40 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2_654_435_761) >>> 0, i);
      const dest = join(root, 'pushed');
      await go('#/run');
      await page().getByTestId('mode-push').click();
      await page()
        .getByTestId('selector')
        .fill(`id:${id('alpha').slice(0, 12)}`);
      await expect.poll(() => page().getByTestId('match-count').getAttribute('data-count')).toBe('1');
      await page()
        .getByTestId('push-files')
        .setInputFiles([
          { name: 'a.txt', mimeType: 'text/plain', buffer: small },
          { name: 'big.bin', mimeType: 'application/octet-stream', buffer: big },
        ]);
      await page().getByTestId('push-dest').fill(`${dest}/`);
      await page().getByTestId('run').click();
      const live = page().locator('[data-testid="run-result"][data-running="true"]');
      const task = (await live.getAttribute('data-task', { timeout: 30_000 }))!;
      const pane = live.locator(`article[data-host="${id('alpha')}"]`);
      // a.txt is on the host and big.bin is on its way: close the page now.
      const next = await closeAndReopen(
        task,
        async () =>
          (await pane
            .getByTestId('output')
            .textContent()
            .catch(() => ''))!.includes('pushed a.txt') && (await progressOf(pane)) > small.length + 1024 * 1024,
      );
      const collected = next.locator(`[data-testid="task-hosts"] article[data-host="${id('alpha')}"]`);
      await collected.waitFor();
      await expect.poll(() => collected.getAttribute('data-status'), { timeout: 90_000 }).not.toBe('running');
      // Not "no record": the first file's entry says it arrived, the second's that the page went away.
      expect(await collected.getAttribute('data-status')).toBe('interrupted');
      expect(await collected.getByTestId('output').textContent()).toBe(`pushed a.txt (11 B) → ${dest}/a.txt\n`);
      expect(await collected.locator('.error').textContent()).toBe(`the page closed while file 2 of 2 (${dest}/big.bin) was on its way: it was not written`);
      // What the journal said is what the disk shows: a.txt whole, no big.bin (nor a partial one in its place).
      expect(await readFile(join(dest, 'a.txt'), 'utf8')).toBe('first file\n');
      await expect(stat(join(dest, 'big.bin'))).rejects.toThrow(/ENOENT/);
    }));

  test('a fetch left running when the page closed says the file must be fetched again, and the button fetches it', () =>
    step(async () => {
      const file = join(root, 'fetch-me.bin');
      const content = Buffer.alloc(16 * 1024 * 1024);
      for (let i = 0; i < content.length; i += 4096) content.writeUInt32LE((i * 40_503) >>> 0, i);
      await writeFile(file, content);
      await go('#/run');
      await page().getByTestId('mode-fetch').click();
      await page()
        .getByTestId('selector')
        .fill(`id:${id('alpha').slice(0, 12)}`);
      await expect.poll(() => page().getByTestId('match-count').getAttribute('data-count')).toBe('1');
      await page().getByTestId('fetch-path').fill(file);
      await page().getByTestId('run').click();
      const live = page().locator('[data-testid="run-result"][data-running="true"]');
      const task = (await live.getAttribute('data-task', { timeout: 30_000 }))!;
      const pane = live.locator(`article[data-host="${id('alpha')}"]`);
      const next = await closeAndReopen(task, async () => (await progressOf(pane)) > 1024 * 1024);
      const collected = next.locator(`[data-testid="task-hosts"] article[data-host="${id('alpha')}"]`);
      await collected.waitFor();
      await expect.poll(() => collected.getAttribute('data-status'), { timeout: 90_000 }).not.toBe('running');
      const note = collected.getByTestId('file-note');
      expect(await note.textContent()).toContain('Fetch it again to save it.');
      expect(await collected.getByTestId('download').count()).toBe(0);
      await next.setViewportSize({ width: 360, height: 740 });
      await screenshot(next, 'phone-task-fetch-again', true);
      await next.setViewportSize({ width: 1280, height: 800 });
      await screenshot(next, 'desktop-task-fetch-again');

      await note.getByTestId('fetch-again').click();
      await next.locator('main[data-page="run"]').waitFor();
      const result = next.locator(`[data-testid="run-result"][data-running="false"]:not([data-task="${task}"])`);
      await result.waitFor({ timeout: 90_000 });
      const again = result.locator(`article[data-host="${id('alpha')}"]`);
      expect(await again.getAttribute('data-status')).toBe('ok');
      const [download] = await Promise.all([next.waitForEvent('download'), again.getByTestId('download').click()]);
      expect(download.suggestedFilename()).toBe(`alpha-${id('alpha').slice(0, 8)}-fetch-me.bin`);
      expect((await readFile((await download.path())!)).equals(content)).toBe(true);
    }));

  test('a file over the fetch cap is refused with a clear error, and nothing is offered for download', () =>
    step(async () => {
      // Sparse: 256 MiB and one byte on the host, almost nothing on disk.
      const huge = join(root, 'huge.img');
      const handle = await open(huge, 'w');
      await handle.truncate(FETCH_CAP + 1);
      await handle.close();
      await go('#/run');
      await page().getByTestId('mode-fetch').click();
      const result = await runOnPage(`id:${id('alpha').slice(0, 12)}`, 1, () => page().getByTestId('fetch-path').fill(huge));
      const pane = result.locator(`article[data-host="${id('alpha')}"]`);
      expect(await pane.getAttribute('data-status')).toBe('failed');
      expect(await pane.locator('.error').textContent()).toContain(
        `${huge} is 268 MB, over the 256 MiB a fetch in the browser may hold in memory; fetch it with the CLI`,
      );
      expect(await pane.getByTestId('download').count()).toBe(0);
    }));

  test('days later: the date filters leave the old tasks out, and the retention setting removes them', () =>
    step(async () => {
      const before = await shownTasksIn('#/history');
      expect(before.length).toBe(9);
      const realNow = Date.now();
      // The browser's clock moves three days on. (The signaling server now refuses its credentials
      // as stale: history is this browser's own and needs no network.)
      await page().clock.install({ time: realNow + 3 * DAY });
      await page().reload();
      await page().locator('main[data-page="history"]').waitFor();
      await expect.poll(shownTasks).toEqual(before);
      await page().getByTestId('history-since').selectOption({ label: 'last 24 hours' });
      expect(await shownTasks()).toEqual([]);
      await page().getByTestId('history-since').selectOption({ label: 'last 7 days' });
      expect(await shownTasks()).toEqual(before);
      await page().getByTestId('history-since').selectOption({ label: 'any time' });
      await page()
        .getByTestId('history-day')
        .fill(localDay(realNow + 3 * DAY));
      expect(await shownTasks()).toEqual([]);
      await page().getByTestId('history-day').fill(localDay(realNow));
      expect(await shownTasks()).toEqual(before);
      await page().getByTestId('history-day').fill('');
      await go('#/dashboard');
      expect(await page().getByTestId('tasks-24h').count()).toBe(0);
      await page().getByText('No tasks in the last 24 hours.').waitFor();
      // The app says what is wrong: the clock, not a refusal of this device.
      await page().getByTestId('clock-off').waitFor({ timeout: 15_000 });
      expect(await page().getByTestId('device-refused').count()).toBe(0);
      // Without the signaling server, which hosts are online is not known: not "0 online".
      expect(await page().getByTestId('count-online').textContent()).toBe('?online');
      expect(await page().getByTestId('count-total').getAttribute('data-count')).toBe('5');
      await screenshot(page(), 'desktop-dashboard-clock-off');

      // Keeping 30 days keeps them all; keeping 2 removes every task older than that.
      await go('#/settings');
      const retention = page().locator('#retention');
      await retention.fill('30');
      await page().getByRole('button', { name: 'Save' }).click();
      await page().getByText('History is kept for 30 days').waitFor();
      expect(await shownTasksIn('#/history')).toEqual(before);
      await go('#/settings');
      await retention.fill('2');
      await page().getByRole('button', { name: 'Save' }).click();
      await page().getByText('History is kept for 2 days').waitFor();
      expect(await shownTasksIn('#/history')).toEqual([]);
      await page().getByText('No tasks yet.').waitFor();
      await page().reload();
      await page().locator('main[data-page="history"]').waitFor();
      await page().getByText('No tasks yet.').waitFor();
      await go('#/settings');
      expect(await page().locator('#retention').inputValue()).toBe('2');
    }));

  /** The history list's task ids after going to `hash`. */
  async function shownTasksIn(hash: string): Promise<string[]> {
    await go(hash);
    await page().locator('main[data-page="history"]').waitFor();
    return shownTasks();
  }
});
