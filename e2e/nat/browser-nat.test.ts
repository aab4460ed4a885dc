// The PWA behind NAT: Chromium runs in site 2 (behind router 2), the agent in site 1, the
// signaling server (serving the built PWA) and coturn in the public namespace. The browser
// becomes a device of the fleet by importing the CLI's backup, runs a command on the agent and
// shows how it reached it: directly through endpoint-independent NAT, through the TURN relay
// when both NATs give a new port per flow. Root only; skipped with the reason elsewhere.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { natUnavailableReason } from './topology.ts';
import { CHROMIUM } from '../browser/browser-harness.ts';
import { chromiumInSite2, ROOT, SIGNAL_PORT, startStack, turnLog, waitOnline, type Stack } from './stack.ts';

const PASSPHRASE = 'nat browser passphrase';
const SCREENS = join(ROOT, 'test-results', 'screens');

const unavailable =
  natUnavailableReason() ??
  (existsSync(CHROMIUM) ? undefined : `needs Chromium at ${CHROMIUM} (apt-get install chromium)`) ??
  (existsSync(join(ROOT, 'dist/web/index.html')) ? undefined : 'needs the built PWA in dist/web (npm run build:web)');
if (unavailable) console.warn(`browser NAT tests skipped: ${unavailable}`);

interface BrowserSite {
  context: BrowserContext;
  page: Page;
  log: string[];
}

/** Chromium inside site 2's namespace, started through a wrapper as Playwright's executable. */
async function launchInSite(stack: Stack): Promise<BrowserSite> {
  const context = await chromiumInSite2(stack, { width: 1280, height: 800 });
  const page = context.pages()[0] ?? (await context.newPage());
  const log: string[] = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  return { context, page, log };
}

/** Imports the CLI's fleet into the browser, runs `echo` on the agent, and returns the host page's path. */
async function runFromBrowser(stack: Stack, site: BrowserSite, name: string): Promise<{ relayed: string | null; text: string }> {
  const { page } = site;
  const passphraseFile = join(stack.base, 'passphrase');
  await writeFile(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
  const exported = await stack.cli(['fleet', 'export', '--passphrase-file', passphraseFile]);
  if (exported.code !== 0) throw new Error(`fleet export failed:\n${exported.output}`);
  const origin = `http://${stack.topo.addr.pub}:${SIGNAL_PORT}/`;
  await page.goto(`${origin}#import=${exported.stdout.trim()}`);
  await page.getByLabel('Name this device').fill(`browser behind NAT (${name})`);
  await page.getByLabel('Backup passphrase', { exact: true }).fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Import fleet' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: 30_000 });

  await page.locator('[data-nav="hosts"]').click();
  await page.locator(`tr[data-host="${stack.agentId}"][data-state="online"]`).waitFor({ timeout: 60_000 });

  await page.locator('[data-nav="run"]').click();
  await page.getByTestId('selector').fill('tag:site=one');
  await expect.poll(() => page.getByTestId('match-count').getAttribute('data-count')).toBe('1');
  await page.getByTestId('command').fill(`echo from-browser-${name}; ip -4 -o addr show dev eth0`);
  await page.getByTestId('run').click();
  const pane = page.locator(`[data-testid="run-result"][data-running="false"] article[data-host="${stack.agentId}"]`);
  await pane.waitFor({ timeout: 90_000 });
  expect(await pane.getAttribute('data-status')).toBe('ok');
  const output = (await pane.getByTestId('output').textContent()) ?? '';
  expect(output).toContain(`from-browser-${name}`);
  expect(output).toContain(stack.topo.addr.s1); // it ran in site 1

  await page.goto(`${origin}#/hosts/${stack.agentId}`);
  const connection = page.getByTestId('connection');
  await expect.poll(() => connection.getAttribute('data-state'), { timeout: 30_000 }).toBe('connected');
  const path = page.getByTestId('path');
  await mkdir(SCREENS, { recursive: true });
  await page.screenshot({ path: join(SCREENS, `nat-browser-${name}.png`), fullPage: true });
  return { relayed: await path.getAttribute('data-relayed'), text: (await path.textContent()) ?? '' };
}

describe.skipIf(unavailable !== undefined)(`the PWA behind NAT${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  for (const [name, nat, relayed] of [
    ['direct', 'masquerade', false],
    ['relayed', 'random-fully', true],
  ] as const) {
    describe(`${nat} NAT on both sides`, () => {
      let stack: Stack | undefined;
      let site: BrowserSite | undefined;
      beforeAll(async () => {
        stack = await startStack({ nat1: nat, nat2: nat });
        await waitOnline(stack);
        site = await launchInSite(stack);
      }, 180_000);
      afterAll(async () => {
        await site?.context.close().catch(() => undefined);
        await stack?.destroy();
      }, 60_000);

      it(`Chromium in site 2 runs a command on the agent in site 1 and shows the path as ${name}`, async () => {
        const s = stack!;
        try {
          const path = await runFromBrowser(s, site!, name);
          expect(path.relayed).toBe(String(relayed));
          expect(path.text.toLowerCase()).toContain(name);
          if (relayed) expect(turnLog(s)).toMatch(/incoming packet CHANNEL_BIND processed, success/);
        } catch (error) {
          const tail = (t: string) => t.split('\n').slice(-30).join('\n');
          throw new Error(
            `${(error as Error).message}\n--- browser\n${tail(site!.log.join('\n'))}\n--- agent\n${tail(s.agent.output())}\n--- signal\n${tail(s.signal.output())}`,
            { cause: error },
          );
        }
      }, 240_000);
    });
  }
});
