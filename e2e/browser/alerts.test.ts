// The PWA's alerts (issue 15) against the real stack: a fleet made in the browser, a real agent,
// a local HTTP receiver standing in for a webhook. A rule saved from the Alerts page (`procs > 0
// for 2s`, true at once on any host) goes pending then firing on the agent while no Flotilla page
// is open (the webhook arrives); opening the PWA then shows the badge with 1, the host and rule
// firing, the history pending → firing and the dashboard's alerts firing. With notification
// permission, a second rule firing while the app is open becomes a system notification through
// the service worker; the old history of the first rule does not. A silence made in the page is
// read by the agent: the next notification is recorded silenced (in the agent's log and the state
// document the page shows) and none reaches the webhook; ended early, notifications are sent again.
// A viewer device sees the rules and why it cannot silence, with no form. Screenshots at 360 px,
// light and dark.

import { createServer, type Server } from 'node:http';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Proc } from '../harness.ts';
import { browserAs, createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

interface Hook {
  rule: string;
  event: string;
  at: number;
}

describe('the Alerts page', () => {
  let stack: Stack;
  let agent: Proc & { id: string };
  let receiver: Server;
  let hookUrl: string;
  const hooks: Hook[] = [];
  let failures = 0;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        try {
          const m = JSON.parse(body) as { rule: string; event: string };
          hooks.push({ rule: m.rule, event: m.event, at: Date.now() });
        } catch {
          hooks.push({ rule: '?', event: body.slice(0, 80), at: Date.now() });
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const address = receiver.address();
    hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
    stack = await startStack();
  });

  afterAll(async () => {
    await stack?.stop();
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  });

  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `alerts-failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }

  /** Agent log events of one kind (JSON lines), after `from` characters of its output. */
  function agentEvents(event: string, from = 0): Record<string, unknown>[] {
    return agent
      .output()
      .slice(from)
      .split('\n')
      .filter((l) => l.includes(`"event":"${event}"`))
      .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>);
  }

  /** Reads the fleet store now (the page also does every 30 s) until `probe` holds. */
  async function untilSynced(page: Page, probe: () => Promise<boolean>, timeout = 60_000): Promise<void> {
    await expect
      .poll(
        async () => {
          if (await probe()) return true;
          await page.getByRole('button', { name: 'Refresh' }).click();
          return probe();
        },
        { timeout, interval: 2000 },
      )
      .toBe(true);
  }

  async function saveRules(page: Page, yaml: string): Promise<void> {
    const details = page.locator('details:has([data-testid="rules-yaml"])');
    if (!(await details.evaluate((d) => (d as HTMLDetailsElement).open))) await details.locator('summary').click();
    await page.getByTestId('rules-yaml').fill(yaml);
    await page.getByTestId('rules-save').click();
    await expect.poll(() => page.getByTestId('rules-yaml').inputValue()).toBe('');
  }

  test('a rule saved in the PWA fires on the agent with no Flotilla page open', () =>
    step(async () => {
      const { page } = stack;
      await createFleetInUi(page, stack.url);
      const { token } = await makeTokenInUi(page, 1);
      agent = await stack.startAgent(token, 'alert-host');
      await page.locator(`tr[data-host="${agent.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });

      await page.locator('[data-nav="alerts"]').click();
      await page.getByTestId('alerts-none').waitFor();
      expect(await page.getByTestId('alerts-badge').count()).toBe(0);
      // A bad file is refused with the parser's sentence, nothing saved.
      const details = page.locator('details:has([data-testid="rules-yaml"])');
      await details.locator('summary').click();
      await page.getByTestId('rules-yaml').fill('name: x\nmetric: procs\nwhen: "> 0"\nchannels: [nowhere]');
      await page.getByTestId('rules-save').click();
      await expect.poll(() => page.getByTestId('rules-error').textContent()).toContain('names channel nowhere, which does not exist');
      const mark = agent.output().length;
      await saveRules(
        page,
        [
          'kind: channel',
          'name: hook',
          `webhook: { url: '${hookUrl}', format: generic, secret: TOPSECRET-1 }`,
          '---',
          'name: procs-up',
          'metric: procs',
          "when: '> 0'",
          'for: 2s',
          'severity: critical',
          'channels: [hook]',
        ].join('\n'),
      );
      await page.locator('[data-testid="rule-list"] li[data-rule="procs-up"]').waitFor();
      // Secrets are not shown.
      const channels = (await page.getByTestId('channel-list').textContent()) ?? '';
      expect(channels).toContain(hookUrl);
      expect(channels).toContain('***');
      expect(channels).not.toContain('TOPSECRET');

      // No Flotilla page open while the agent reads the rule and it fires.
      await page.goto('about:blank');
      await expect
        .poll(() => agentEvents('alert-state', mark).map((e) => `${String(e['rule'])}:${String(e['to'])}`), { timeout: 60_000 })
        .toEqual(['procs-up:pending', 'procs-up:firing']);
      await expect.poll(() => hooks.filter((h) => h.rule === 'procs-up' && h.event === 'firing').length, { timeout: 60_000 }).toBe(1);
    }));

  test('opening the PWA: the badge shows 1, the list the host and rule firing, the history pending → firing, the dashboard the alert', () =>
    step(async () => {
      const { page } = stack;
      await page.goto(`${stack.url}#/alerts`);
      // The page's cache may still hold the pending state it read before it closed: the sync brings firing.
      const row = page.locator(`[data-testid="alert-list"] li[data-rule="procs-up"][data-host="${agent.id}"]`);
      await untilSynced(page, async () => (await row.getAttribute('data-state').catch(() => null)) === 'firing');
      expect(await row.count()).toBe(1);
      expect(await row.textContent()).toContain('alert-host');
      expect(await row.textContent()).toContain('critical');
      await expect.poll(() => page.getByTestId('alerts-badge').textContent()).toBe('1');
      const changes = page.locator('[data-testid="alert-history"] li[data-kind="state"][data-rule="procs-up"]');
      expect(await changes.allTextContents().then((t) => t.map((s) => /(\w+) → (\w+)/.exec(s)?.[0]))).toEqual(['pending → firing', 'inactive → pending']);
      await page.locator('[data-testid="alert-history"] li[data-kind="notify"]').first().waitFor();
      expect(await page.getByTestId('alert-history').textContent()).toContain('firing to hook: sent');
      // The filter by host keeps the rows; by a rule that does not exist, none.
      await page.getByTestId('history-host').selectOption('alert-host');
      expect(await changes.count()).toBe(2);
      await page.getByTestId('history-host').selectOption('');

      await page.locator('[data-nav="dashboard"]').click();
      const dash = page.locator(`[data-testid="alerts-firing"] li[data-rule="procs-up"][data-host="${agent.id}"]`);
      await dash.waitFor();
      expect(await dash.textContent()).toContain('alert-host');
    }));

  test('with notification permission, a new firing while the app is open is a system notification; old history is not', () =>
    step(async () => {
      const { page, context } = stack;
      await context.grantPermissions(['notifications'], { origin: new URL(stack.url).origin });
      await page.goto(`${stack.url}#/alerts`);
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
      const titles = () => page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => n.title));
      await saveRules(page, ['name: procs-repeat', 'metric: procs', "when: '> 0'", 'repeat: 1s', 'channels: [hook]'].join('\n'));
      await untilSynced(page, async () => (await page.locator('[data-testid="alert-list"] li[data-rule="procs-repeat"][data-state="firing"]').count()) === 1);
      await expect.poll(titles, { timeout: 20_000 }).toContain('🔴 procs-repeat firing on alert-host');
      expect((await titles()).filter((t) => t.includes('procs-up'))).toEqual([]);
      await expect.poll(() => page.getByTestId('alerts-badge').textContent()).toBe('2');
    }));

  test('a silence made in the PWA is read by the agent: the next notification is recorded silenced and not sent; ended early, sent again', () =>
    step(async () => {
      const { page } = stack;
      // Repeats reach the webhook before the silence.
      await expect.poll(() => hooks.filter((h) => h.rule === 'procs-repeat' && h.event === 'repeat').length, { timeout: 60_000 }).toBeGreaterThan(0);
      const mark = agent.output().length;
      // "Silence…" on the alert fills the form with its rule and its host (by id: a selector of one host).
      await page.locator('[data-testid="alert-list"] li[data-rule="procs-repeat"] [data-testid="alert-silence"]').click();
      expect(await page.getByTestId('silence-rule').inputValue()).toBe('procs-repeat');
      expect(await page.getByTestId('silence-host').inputValue()).toBe(agent.id);
      // A host selector that does not parse is refused in the page with the selector's sentence.
      await page.getByTestId('silence-host').fill('web-1, web-2');
      await page.getByTestId('silence-save').click();
      await expect.poll(() => page.getByTestId('silence-error').textContent()).toContain('comma');
      await page.getByTestId('silence-host').fill(agent.id);
      await page.getByTestId('silence-for').selectOption('4');
      await page.getByTestId('silence-comment').fill('deploying web');
      await page.getByTestId('silence-save').click();
      const listed = page.locator('[data-testid="silence-list"] li');
      await listed.waitFor();
      expect(await listed.textContent()).toContain(`rule procs-repeat on ${agent.id}`);
      expect(await listed.textContent()).toContain('deploying web');
      expect(await listed.textContent()).toContain('e2e browser');

      await expect.poll(() => agentEvents('alert-silenced', mark).filter((e) => e['rule'] === 'procs-repeat').length, { timeout: 60_000 }).toBeGreaterThan(0);
      const silencedAt = Date.now();
      const repeatsBefore = hooks.filter((h) => h.rule === 'procs-repeat').length;
      // Two more silenced repeats (samples every 5 s), and no delivery for the rule meanwhile.
      await expect.poll(() => agentEvents('alert-silenced', mark).filter((e) => e['rule'] === 'procs-repeat').length, { timeout: 60_000 }).toBeGreaterThan(2);
      expect(hooks.filter((h) => h.rule === 'procs-repeat').length).toBe(repeatsBefore);
      expect(hooks.filter((h) => h.rule === 'procs-repeat' && h.at > silencedAt + 1000)).toEqual([]);
      // The state document says so, as the page shows it.
      const silencedRow = page.locator('[data-testid="alert-history"] li[data-kind="notify"][data-rule="procs-repeat"]', {
        hasText: 'repeat not sent (silenced)',
      });
      await untilSynced(page, async () => (await silencedRow.count()) > 0);
      // procs-up, not silenced, is still firing and not notified again (no repeat): unaffected either way.

      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 360, height: 780 });
      await page.evaluate(() => scrollTo(0, 0));
      await screenshot(page, 'alerts-360-light', true);
      await screenshot(page, 'alerts-360-light-top');
      await page.emulateMedia({ colorScheme: 'dark' });
      await screenshot(page, 'alerts-360-dark', true);
      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 1280, height: 800 });
      await screenshot(page, 'alerts-1280', true);

      const endMark = agent.output().length;
      await page.getByTestId('silence-end').click();
      await page.getByTestId('silences-none').waitFor();
      await expect
        .poll(() => agentEvents('alert-notified', endMark).filter((e) => e['rule'] === 'procs-repeat').length, { timeout: 60_000 })
        .toBeGreaterThan(0);
      await expect.poll(() => hooks.filter((h) => h.rule === 'procs-repeat').length, { timeout: 30_000 }).toBeGreaterThan(repeatsBefore);
    }));
  test('a viewer device is told why it cannot silence, and gets no silence form nor rule file box', () =>
    step(async () => {
      const viewer = await browserAs(stack, 'viewer phone', 'viewer');
      await viewer.goto(`${stack.url}#/alerts`);
      await viewer.reload(); // the app reads its identity when it starts
      await viewer.getByRole('heading', { name: 'Alerts' }).waitFor({ timeout: 30_000 });
      await expect
        .poll(() => viewer.getByTestId('silence-forbidden').textContent())
        .toContain('This device is a viewer: silences are written by operator and admin devices');
      expect(await viewer.getByTestId('silence-form').count()).toBe(0);
      expect(await viewer.getByTestId('rules-yaml').count()).toBe(0);
      expect(await viewer.getByTestId('silence-end').count()).toBe(0);
      await viewer.context().close();
    }));
});
