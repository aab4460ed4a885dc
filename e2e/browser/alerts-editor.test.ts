// The alert rule editor in the PWA (issue 15) against the real stack, at a phone's 360×740: a
// webhook channel and a rule `fs:<loop mount>:used_pct > 90 for 5s` made field by field (no rule
// file), the metric picked from the series the real agent's newest sample holds (its loop-mounted
// 8 MiB ext4, mounted before it started). The documents the agent keeps (its mailbox.json, which
// the alerts engine reads) have exactly the fields typed. A threshold "abc" and a for "5 parsecs"
// are refused beside their fields with the validator's sentences, and nothing is written (no PUT
// reaches the fleet store). Editing the threshold to 20 with the filesystem ~40 % full makes the
// agent install the new version: it goes pending then firing, and the webhook carries threshold
// 20. Delete writes the rule again with `deleted: true`, and the agent drops it. Screenshots of
// the editor at 360 px, light and dark. A viewer device (its identity made as in alerts.test.ts) is
// told why it cannot change rules, and the editor its link opens is read-only.

import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fillLoopFs, mountLoopFs, type Proc, removeDir, tempDir } from '../harness.ts';
import { browserAs, createFleetInUi, makeTokenInUi, screenshot, type Stack, startStack } from './browser-harness.ts';

const SECRET = 'TOPSECRET-editor';

describe('the alert rule editor', () => {
  let stack: Stack;
  let agent: Proc & { id: string };
  let receiver: Server;
  let hookUrl: string;
  const hooks: Record<string, unknown>[] = [];
  let base: string;
  let mount: string;
  let mounted = false;
  let failures = 0;
  /** PUTs to the fleet store the page made (each a document written). */
  const puts: string[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        try {
          hooks.push(JSON.parse(body) as Record<string, unknown>);
        } catch {
          hooks.push({ raw: body.slice(0, 200) });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const address = receiver.address();
    hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
    // A small filesystem the test owns (as e2e/integration/alerts.test.ts), mounted before the agent
    // starts: its sampler lists filesystems at start.
    base = await tempDir('alerts-editor');
    mount = await mountLoopFs(base);
    mounted = true;
    stack = await startStack();
    stack.page.on('request', (r) => {
      if (r.method() === 'PUT' && r.url().includes('/api/store/')) puts.push(r.url());
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
    if (mounted) spawnSync('umount', [mount], { stdio: 'ignore' });
    if (base) await removeDir(base);
  });

  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `alerts-editor-failure-${++failures}`).catch(() => undefined);
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

  /** The documents of a type the agent keeps (its mailbox.json: what its alerts engine reads), by name. */
  async function kept(type: 'alert' | 'channel'): Promise<Map<string, { version: number; payload: Record<string, unknown> }>> {
    const args = agent.child.spawnargs;
    const dir = args[args.indexOf('--state-dir') + 1]!;
    const file = JSON.parse(await readFile(join(dir, 'mailbox.json'), 'utf8').catch(() => '{}')) as {
      docs?: Record<string, { version: number; payload: Record<string, unknown> }>;
    };
    return new Map(
      Object.values(file.docs ?? {})
        .filter((d) => d.payload['type'] === type)
        .map((d) => [String(d.payload['name']), d]),
    );
  }

  /** The field's container, so that an error is checked to sit beside its field. */
  const field = (page: Page, name: string) => page.locator(`[data-testid="rule-editor"] [data-field="${name}"]`);

  test('a webhook channel and a disk rule made field by field at 360 px reach the agent with exactly those fields', () =>
    step(async () => {
      const { page } = stack;
      await createFleetInUi(page, stack.url);
      const { token } = await makeTokenInUi(page, 1);
      agent = await stack.startAgent(token, 'disk-host');
      await page.locator(`tr[data-host="${agent.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
      await page.setViewportSize({ width: 360, height: 740 });

      await page.goto(`${stack.url}#/alerts`);
      await page.getByTestId('rule-new').click();
      const editor = page.getByTestId('rule-editor');
      await editor.waitFor();
      await page.getByLabel('Name', { exact: true }).fill('disk-nearly-full');
      await expect.poll(() => page.getByTestId('rule-target-count').textContent()).toBe('1 host match now (1 online)');
      // The metric list is what the host has: its loop mount's percent, by a name for people.
      const metric = `fs:${mount}:used_pct`;
      await expect.poll(() => page.getByTestId('rule-metric-source').textContent(), { timeout: 30_000 }).toContain('the series disk-host has now');
      expect(await page.locator(`[data-testid="rule-metric"] option[value="${metric}"]`).textContent()).toBe(`Disk used % on ${mount}`);
      expect(await page.locator('[data-testid="rule-metric"] option:not([disabled])').first().textContent()).toBe('CPU busy %');
      await page.getByTestId('rule-metric').selectOption(metric);
      expect(await page.getByTestId('rule-unit').textContent()).toBe('%');
      await page.getByTestId('rule-op').selectOption('>');
      await page.getByTestId('rule-threshold').fill('90');
      await page.getByTestId('rule-for').fill('5s');
      await page.getByTestId('rule-severity-critical').check();
      expect(await page.getByTestId('rule-sentence').textContent()).toBe(`Disk used % on ${mount} > 90 % for 5s`);

      // "New channel…" opens the channel editor in place; the channel made is ticked.
      await page.getByTestId('rule-new-channel').click();
      const channel = page.getByTestId('channel-editor');
      await channel.getByTestId('channel-name').fill('hook');
      await channel.getByTestId('channel-kind-webhook').check();
      await channel.getByTestId('channel-url').fill('ftp://nowhere');
      await channel.getByTestId('channel-save').click();
      await expect.poll(() => channel.getByTestId('channel-error-url').textContent()).toBe('Expected an http:// or https:// URL.');
      await channel.getByTestId('channel-url').fill(hookUrl);
      await channel.getByTestId('channel-format').selectOption('generic');
      await channel.getByTestId('channel-secret').fill(SECRET);
      await screenshot(page, 'alert-channel-editor-360-light', true);
      await page.emulateMedia({ colorScheme: 'dark' });
      await screenshot(page, 'alert-channel-editor-360-dark', true);
      await page.emulateMedia({ colorScheme: 'light' });
      await channel.getByTestId('channel-save').click();
      await channel.waitFor({ state: 'detached' });
      await expect.poll(() => page.locator('[data-field="channels"] label[data-channel="hook"] input').isChecked()).toBe(true);
      await page.getByTestId('rule-summary').fill('Test disk over 90 %');

      await page.emulateMedia({ colorScheme: 'light' });
      await screenshot(page, 'alert-rule-editor-360-light', true);
      await page.emulateMedia({ colorScheme: 'dark' });
      await screenshot(page, 'alert-rule-editor-360-dark', true);
      await page.emulateMedia({ colorScheme: 'light' });

      const mark = agent.output().length;
      await page.getByTestId('rule-save').click();
      await page.locator('[data-testid="rule-list"] li[data-rule="disk-nearly-full"]').waitFor();
      expect(await page.getByTestId('channel-list').textContent()).not.toContain(SECRET);
      await agent.waitFor(/"event":"alerts-loaded","rules":1,"channels":1/, 60_000);
      expect(agentEvents('alerts-loaded', mark).length).toBeGreaterThan(0);

      const rules = await kept('alert');
      expect([...rules.keys()]).toEqual(['disk-nearly-full']);
      expect(rules.get('disk-nearly-full')!.payload).toEqual({
        type: 'alert',
        name: 'disk-nearly-full',
        target: '*',
        metric,
        op: '>',
        threshold: 90,
        forSec: 5,
        severity: 'critical',
        labels: {},
        repeatSec: 0,
        channels: ['hook'],
        summary: 'Test disk over 90 %',
        enabled: true,
        deleted: false,
        at: expect.any(Number) as number,
      });
      expect((await kept('channel')).get('hook')!.payload).toEqual({
        type: 'channel',
        name: 'hook',
        kind: 'webhook',
        webhook: { url: hookUrl, format: 'generic', secret: SECRET },
        deleted: false,
        at: expect.any(Number) as number,
      });
    }));

  test('a threshold "abc" and a for "5 parsecs" are refused beside their fields, and nothing is written', () =>
    step(async () => {
      const { page } = stack;
      const li = page.locator('[data-testid="rule-list"] li[data-rule="disk-nearly-full"]');
      await li.getByTestId('rule-edit').click();
      await page.getByTestId('rule-editor').waitFor();
      // Editing keeps the name: the field is not editable.
      expect(await page.getByLabel('Name', { exact: true }).isDisabled()).toBe(true);
      expect(await page.getByTestId('rule-threshold').inputValue()).toBe('90');
      expect(await page.getByTestId('rule-for').inputValue()).toBe('5s');
      const before = puts.length;
      await page.getByTestId('rule-threshold').fill('abc');
      await page.getByTestId('rule-for').fill('5 parsecs');
      await page.getByTestId('rule-save').click();
      await expect.poll(() => field(page, 'threshold').getByTestId('rule-error-threshold').textContent()).toBe('Expected a number.');
      expect(await field(page, 'for').getByTestId('rule-error-for').textContent()).toBe('"5 parsecs" is not a duration: write it like 30s, 5m, 1h or 1d.');
      expect(await page.getByTestId('rule-invalid').textContent()).toContain('nothing was saved');
      // The first wrong field takes the focus (on a phone it may be a screen away).
      expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('rule-threshold');
      await screenshot(page, 'alert-rule-editor-360-errors', true);
      // Still the editor, and no document went to the store (a refresh of the list reads, never writes).
      expect(await page.getByTestId('rule-editor').count()).toBe(1);
      expect(puts.length).toBe(before);
      expect((await kept('alert')).get('disk-nearly-full')!.payload['threshold']).toBe(90);
    }));

  test('editing the threshold: the agent installs the new version, and it fires', () =>
    step(async () => {
      const { page } = stack;
      // About 3 of the ~7 MiB free: some 40 % used, over the new threshold, under the old.
      await fillLoopFs(mount, 3);
      const oldVersion = (await kept('alert')).get('disk-nearly-full')!.version;
      const mark = agent.output().length;
      await page.getByTestId('rule-threshold').fill('20');
      await page.getByTestId('rule-for').fill('5s');
      await page.getByTestId('rule-save').click();
      await page.locator('[data-testid="rule-list"] li[data-rule="disk-nearly-full"]').waitFor();
      expect(await page.locator('[data-testid="rule-list"] li[data-rule="disk-nearly-full"]').textContent()).toContain(`fs:${mount}:used_pct > 20 for 5s`);
      await expect.poll(async () => (await kept('alert')).get('disk-nearly-full')?.version, { timeout: 60_000 }).toBeGreaterThan(oldVersion);
      const now = (await kept('alert')).get('disk-nearly-full')!.payload;
      expect([now['name'], now['threshold'], now['forSec'], now['metric']]).toEqual(['disk-nearly-full', 20, 5, `fs:${mount}:used_pct`]);
      await expect
        .poll(() => agentEvents('alert-state', mark).map((e) => `${String(e['rule'])}:${String(e['to'])}`), { timeout: 60_000 })
        .toEqual(['disk-nearly-full:pending', 'disk-nearly-full:firing']);
      await expect.poll(() => hooks.filter((h) => h['rule'] === 'disk-nearly-full' && h['event'] === 'firing').length, { timeout: 60_000 }).toBe(1);
      const hook = hooks.find((h) => h['rule'] === 'disk-nearly-full')!;
      expect(hook).toMatchObject({
        threshold: 20,
        op: '>',
        metric: `fs:${mount}:used_pct`,
        severity: 'critical',
        host: { id: agent.id, hostname: 'disk-host' },
      });
      await rm(join(mount, 'blob'), { force: true });
    }));

  test('Duplicate opens a copy under a free name; Delete writes the rule deleted and the agent drops it', () =>
    step(async () => {
      const { page } = stack;
      const li = page.locator('[data-testid="rule-list"] li[data-rule="disk-nearly-full"]');
      await li.getByTestId('rule-copy').click();
      await page.getByTestId('rule-editor').waitFor();
      expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('disk-nearly-full-copy');
      expect(await page.getByTestId('rule-threshold').inputValue()).toBe('20');
      await page.getByTestId('rule-cancel').click();
      await li.waitFor();

      const mark = agent.output().length;
      page.once('dialog', (d) => void d.accept());
      await li.getByTestId('rule-delete').click();
      await li.waitFor({ state: 'detached' });
      await page.getByTestId('rules-none').waitFor();
      await expect.poll(async () => (await kept('alert')).get('disk-nearly-full')?.payload['deleted'], { timeout: 60_000 }).toBe(true);
      await expect.poll(() => agentEvents('alerts-loaded', mark).map((e) => e['rules']), { timeout: 60_000 }).toContain(0);
    }));
  test('editing the channel: its secret is not shown back, and left empty it is kept', () =>
    step(async () => {
      const { page } = stack;
      const before = (await kept('channel')).get('hook')!.version;
      await page.locator('[data-testid="channel-list"] li[data-channel="hook"]').getByTestId('channel-edit').click();
      const channel = page.getByTestId('channel-editor');
      await channel.waitFor();
      expect(await channel.getByTestId('channel-secret').inputValue()).toBe('');
      expect(await channel.getByTestId('channel-secret').getAttribute('placeholder')).toContain('***');
      expect(await page.content()).not.toContain(SECRET);
      expect(await channel.getByTestId('channel-name').isDisabled()).toBe(true);
      await channel.getByTestId('channel-format').selectOption('slack');
      await channel.getByTestId('channel-save').click();
      await page.locator('[data-testid="channel-list"] li[data-channel="hook"]').waitFor();
      await expect.poll(async () => (await kept('channel')).get('hook')?.version, { timeout: 60_000 }).toBeGreaterThan(before);
      expect((await kept('channel')).get('hook')!.payload['webhook']).toEqual({ url: hookUrl, format: 'slack', secret: SECRET });
    }));

  test('a viewer device sees the rules and why it cannot change them; the editor opened by its link is read-only', () =>
    step(async () => {
      const viewer = await browserAs(stack, 'viewer phone', 'viewer');
      await viewer.goto(`${stack.url}#/alerts`);
      await viewer.reload(); // the app reads its identity when it starts
      await viewer.getByRole('heading', { name: 'Alerts' }).waitFor({ timeout: 30_000 });
      await expect
        .poll(() => viewer.getByTestId('rules-readonly').textContent())
        .toBe('This device is a viewer: rules and channels are written by operator and admin devices.');
      expect(await viewer.getByTestId('rule-new').count()).toBe(0);
      expect(await viewer.getByTestId('channel-new').count()).toBe(0);
      await viewer.goto(`${stack.url}#/alerts?new-rule`);
      await viewer.getByTestId('rule-editor').waitFor();
      expect(await viewer.getByTestId('rule-readonly').textContent()).toContain('This device is a viewer: it can read rules but not change them.');
      expect(await viewer.getByTestId('rule-save').isDisabled()).toBe(true);
      expect(await viewer.getByTestId('rule-threshold').isDisabled()).toBe(true);
      await viewer.context().close();
    }));
});
