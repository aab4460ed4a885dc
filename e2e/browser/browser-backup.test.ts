// A fleet made in the browser is not stuck there: Settings backs up its key as a file, in the
// format of `flotilla fleet export`, and the CLI imports that file and reaches the fleet's host.
// And the link `npm start` prints (`/#import=<backup>`) leads with the import, not "Create fleet".

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cli, removeDir, tempDir, type Proc } from '../harness.ts';
import { createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

const PASSPHRASE = 'browser backup passphrase';

describe('back up a browser-made fleet and import it elsewhere', () => {
  let stack: Stack;
  let dir: string;
  let home: string;
  let agent: Proc & { id: string };
  let fleetId = '';
  let backup = '';
  let failures = 0;

  beforeAll(async () => {
    stack = await startStack();
    dir = await tempDir('browser-backup');
    home = join(dir, 'cli-home');
  });

  afterAll(async () => {
    await stack?.stop();
    if (dir) await removeDir(dir);
  });

  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `browser-backup-failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }

  async function flotilla(args: string[]): Promise<string> {
    const result = await cli(home, args);
    if (result.code !== 0) throw new Error(`flotilla ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
  }

  test('the browser creates a fleet and an agent joins it', () =>
    step(async () => {
      const { page } = stack;
      await createFleetInUi(page, stack.url, 'e2e backup browser');
      const { token } = await makeTokenInUi(page);
      agent = await stack.startAgent(token, 'backed-up-host');
      await page.locator(`tr[data-host="${agent.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
    }));

  test('Settings backs up the fleet key as a file, after the passphrase is typed the same twice', () =>
    step(async () => {
      const { page } = stack;
      await page.locator('[data-nav="settings"]').click();
      fleetId = (await page.getByTestId('fleet-id').textContent()) ?? '';
      expect(fleetId).toMatch(/^[a-z2-7]{52}$/);
      const section = page.getByTestId('fleet-backup');
      await section.getByLabel('Passphrase (8 characters or more)').fill(PASSPHRASE);
      await section.getByLabel('Passphrase again').fill(`${PASSPHRASE}!`);
      await section.getByRole('button', { name: 'Back up fleet key' }).click();
      expect(await section.getByTestId('backup-error').textContent()).toBe('The two passphrases differ: type the same one twice.');

      await section.getByLabel('Passphrase again').fill(PASSPHRASE);
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 30_000 }),
        section.getByRole('button', { name: 'Back up fleet key' }).click(),
      ]);
      expect(download.suggestedFilename()).toBe(`flotilla-fleet-backup-${fleetId.slice(0, 8)}.txt`);
      const file = join(dir, download.suggestedFilename());
      await download.saveAs(file);
      backup = (await readFile(file, 'utf8')).trim();
      expect(backup).toMatch(/^flb1\.[A-Za-z0-9_-]+$/);
      expect(await section.getByTestId('backup-saved').textContent()).toContain(`flotilla init --import ${download.suggestedFilename()}`);
      await screenshot(page, 'browser-backup-settings');
    }));

  test('the CLI imports the file: the same fleet, its key held, and the browser-enrolled host listed', () =>
    step(async () => {
      const passphraseFile = join(dir, 'passphrase');
      await writeFile(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
      const file = join(dir, `flotilla-fleet-backup-${fleetId.slice(0, 8)}.txt`);
      expect(await flotilla(['init', '--import', file, '--passphrase-file', passphraseFile, '--name', 'e2e-cli'])).toContain(`Imported fleet ${fleetId}`);
      const device = JSON.parse(await flotilla(['device', 'show', '--json'])) as { fleet: string; role: string; fleetKey: boolean };
      expect(device).toMatchObject({ fleet: fleetId, role: 'admin', fleetKey: true });
      const hosts = JSON.parse(await flotilla(['hosts', '--json'])) as { id: string; status: string }[];
      expect(hosts.map((h) => h.id)).toContain(agent.id);
    }));

  test('a new browser opened with the import link leads with the import, and joins the fleet', () =>
    step(async () => {
      const page = await stack.newBrowser();
      await page.goto(`${stack.url}#import=${backup}`);
      await page.getByRole('heading', { name: 'Join your fleet' }).waitFor();
      expect(await page.getByTestId('setup').getAttribute('data-lead')).toBe('import');
      // The import form comes first; creating a fleet waits, folded, behind its explanation.
      const order = await page
        .locator('[data-testid="import-backup"], [data-testid="create-fleet"]')
        .evaluateAll((forms) => forms.map((f) => f.getAttribute('data-testid')));
      expect(order).toEqual(['import-backup', 'create-fleet']);
      expect(await page.getByRole('button', { name: 'Create fleet' }).isVisible()).toBe(false);
      await expect.poll(() => page.getByLabel('Fleet backup', { exact: true }).inputValue()).toBe(backup);
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('backup-passphrase');
      await screenshot(page, 'browser-backup-import-link', true);

      await page.getByLabel('Backup passphrase', { exact: true }).fill(PASSPHRASE);
      await page.getByRole('button', { name: 'Import fleet' }).click();
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: 30_000 });
      await page.locator('[data-nav="hosts"]').click();
      await page.locator(`tr[data-host="${agent.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
    }));
});
