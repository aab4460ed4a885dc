// `npm start`'s path into the browser: a fleet made by the CLI, one agent accepted by it, and a
// backup exported with the CLI and opened in the PWA as `/#import=<backup>`. After the passphrase,
// the browser is an admin device of that fleet: the agent is there, online, and runs a command.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cli, removeDir, startAgent, tempDir, type Proc } from '../harness.ts';
import { screenshot, startStack, type Stack } from './browser-harness.ts';

const PASSPHRASE = 'a local passphrase';

describe('import a CLI fleet backup in the browser', () => {
  let stack: Stack;
  let dir: string;
  let home: string;
  let agent: Proc & { id: string };
  let backup = '';
  let failures = 0;

  beforeAll(async () => {
    stack = await startStack();
    dir = await tempDir('import');
    home = join(dir, 'home');
  });

  afterAll(async () => {
    await agent?.stop();
    await stack?.stop();
    if (dir) await removeDir(dir);
  });

  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `import-failure-${++failures}`).catch(() => undefined);
      throw new Error(
        `${(error as Error).message}\n${stack.logs()}${agent ? `\n--- cli-enrolled agent\n${agent.output().split('\n').slice(-40).join('\n')}` : ''}`,
        { cause: error },
      );
    }
  }

  async function flotilla(args: string[]): Promise<string> {
    const result = await cli(home, args);
    if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
  }

  test('the CLI makes a fleet, accepts an agent and exports a backup', () =>
    step(async () => {
      await flotilla(['init', '--signal', stack.url, '--name', 'e2e-cli']);
      const { token } = JSON.parse(await flotilla(['token', 'create', '--json'])) as { token: string };
      agent = await startAgent(join(dir, 'agent'), token);
      // `hosts` meets the agent, which proves the token, and the CLI accepts it.
      const hosts = JSON.parse(await flotilla(['hosts', '--json'])) as { id: string; status: string }[];
      expect(hosts).toEqual([expect.objectContaining({ id: agent.id, status: 'online' })]);
      const passphraseFile = join(dir, 'passphrase');
      await writeFile(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
      backup = (await flotilla(['fleet', 'export', '--passphrase-file', passphraseFile])).trim();
      expect(backup).toMatch(/^flb1\.[A-Za-z0-9_-]+$/);
    }));

  test('the backup link prefills the import, leaves the address bar, and refuses a wrong passphrase', () =>
    step(async () => {
      const { page } = stack;
      await page.goto(`${stack.url}#import=${backup}`);
      const text = page.getByLabel('Fleet backup', { exact: true });
      await expect.poll(() => text.inputValue()).toBe(backup);
      expect(new URL(page.url()).hash).toBe('');
      await page.getByLabel('Name this device').fill('e2e imported browser');
      await page.getByLabel('Backup passphrase', { exact: true }).fill('not the passphrase');
      await page.getByRole('button', { name: 'Import fleet' }).click();
      await expect
        .poll(() => page.getByTestId('import-error').textContent(), { timeout: 30_000 })
        .toContain('the passphrase is wrong or the backup is damaged');
      await screenshot(page, 'import-setup', true);
    }));

  test('with the passphrase the agent appears online in the hosts view and runs a command', () =>
    step(async () => {
      const { page } = stack;
      await page.getByLabel('Backup passphrase', { exact: true }).fill(PASSPHRASE);
      await page.getByRole('button', { name: 'Import fleet' }).click();
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: 30_000 });
      await page.locator('[data-nav="hosts"]').click();
      await page.locator(`tr[data-host="${agent.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
      expect(await page.getByTestId('pending-hosts').count()).toBe(0);
      await screenshot(page, 'import-hosts');

      await page.locator('[data-nav="run"]').click();
      await page.getByTestId('selector').fill(`id:${agent.id.slice(0, 12)}`);
      await expect.poll(() => page.getByTestId('match-count').getAttribute('data-count')).toBe('1');
      await page.getByTestId('command').fill('echo ok');
      await page.getByTestId('run').click();
      const pane = page.locator(`[data-testid="run-result"][data-running="false"] article[data-host="${agent.id}"]`);
      await pane.waitFor({ timeout: 60_000 });
      expect(await pane.getAttribute('data-status')).toBe('ok');
      expect((await pane.getByTestId('output').textContent())?.trim()).toBe('ok');
      expect(await pane.getByTestId('exit-code').textContent()).toBe('exit 0');
    }));

  test('settings say honestly that the browser cannot export the fleet key', () =>
    step(async () => {
      const { page } = stack;
      await page.locator('[data-nav="settings"]').click();
      expect(await page.getByTestId('backup-unavailable').textContent()).toBe(
        "This browser's fleet key cannot be exported; keep the backup you imported or export from the CLI.",
      );
      expect(await page.getByRole('button', { name: 'Export fleet backup' }).count()).toBe(0);
      await screenshot(page, 'import-settings');
    }));
});
