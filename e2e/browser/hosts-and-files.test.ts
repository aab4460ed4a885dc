// The PWA past its first command, against the real signaling server and two real agents:
// results collected from an agent's journal after the page closed mid-run, each host's
// connection state and path, the host page with tag editing, scripts, ANSI colours, files
// pushed to two hosts and fetched as downloads, and a stopped agent.
//
// Both agents see the same path, DROP, but each in its own mount namespace with its own
// directory bound there: a push to DROP lands once per host on disk, and a fetch of one
// path returns each host's own file, as with separate machines.

import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
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

  const drop = () => join(root, 'drop');
  const hostDir = (i: number) => join(root, `host-${i}`);

  /** Goes to a page by its hash without reloading (keeps the task in memory). */
  const go = (hash: string) => stack.page.evaluate((h) => void (location.hash = h), hash);

  /** Waits for a task other than `before` to end on the Run page; returns its result section. */
  async function finished(before: string | null) {
    const result = stack.page.locator(`[data-testid="run-result"][data-running="false"]${before ? `:not([data-task="${before}"])` : ''}`);
    await result.waitFor({ timeout: 60_000 });
    return result;
  }

  /** The task on the Run page now, if any. */
  const current = () =>
    stack.page
      .locator('[data-testid="run-result"]')
      .getAttribute('data-task', { timeout: 1000 })
      .catch(() => null);

  /** Runs `body`; on failure adds a screenshot and every process's log to the error. */
  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `files-failure-${++failures}`).catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }

  test('two agents join and show online', () =>
    step(async () => {
      const { page } = stack;
      await createFleetInUi(page, stack.url);
      const { token } = await makeTokenInUi(page, 2);
      await mkdir(drop(), { recursive: true });
      for (const [i, name] of ['files-a', 'files-b'].entries()) {
        await mkdir(hostDir(i), { recursive: true });
        const agent = await stack.startAgent(token, name, ['--tag', 'role=files', '--allow-root', drop()], [{ source: hostDir(i), target: drop() }]);
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

  test('a script with arguments, pasted or from a file, runs on both hosts with its colours rendered', () =>
    step(async () => {
      const { page } = stack;
      await go('#/run');
      await page.getByTestId('mode-script').click();
      await page.getByTestId('selector').fill('tag:role=files');
      await expect.poll(() => page.getByTestId('match-count').getAttribute('data-count')).toBe('2');
      await page.getByTestId('script').fill(`printf '\\033[31mred\\033[0m \\033[1m%s\\033[0m|%s\\n' "$1" "$2"\nprintf '\\033]0;title\\007<b>not bold</b>\\n'`);
      await page.getByTestId('script-args').fill(`one "two words"`);
      let before = await current();
      await page.getByTestId('run').click();
      let result = await finished(before);
      for (const id of ids) {
        const output = result.locator(`article[data-host="${id}"]`).getByTestId('output');
        expect((await output.textContent())?.trim()).toBe('red one|two words\n<b>not bold</b>');
        expect(await output.locator('span[data-ansi].fg1').textContent()).toBe('red');
        expect(await output.locator('span[data-ansi].b').textContent()).toBe('one');
        // Markup in output stays text.
        expect(await output.locator('b').count()).toBe(0);
      }
      await page
        .getByTestId('script-file')
        .setInputFiles({ name: 'greet.sh', mimeType: 'text/x-sh', buffer: Buffer.from('#!/bin/sh\necho "from a file: $1 ($0)" | sed "s|/tmp/[^)]*|tmp|"\n') });
      await expect.poll(() => page.getByTestId('script').inputValue()).toContain('from a file');
      await page.getByTestId('script-args').fill('x');
      before = await current();
      await page.getByTestId('run').click();
      result = await finished(before);
      for (const id of ids) {
        const pane = result.locator(`article[data-host="${id}"]`);
        expect(await pane.getAttribute('data-status')).toBe('ok');
        expect((await pane.getByTestId('output').textContent())?.trim()).toBe('from a file: x (tmp)');
      }
      expect(await result.locator('.cmd').textContent()).toBe('$ script greet.sh x');
    }));

  test('two files pushed to two hosts land on each host, byte for byte, with the mode asked for', () =>
    step(async () => {
      const { page } = stack;
      const big = Buffer.alloc(700 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7919 + (i >> 9)) & 0xff;
      const small = Buffer.from('hello from the browser\n');
      await go('#/run');
      await page.getByTestId('mode-push').click();
      await page.getByTestId('selector').fill('tag:role=files');
      await expect.poll(() => page.getByTestId('match-count').getAttribute('data-count')).toBe('2');
      await page.getByTestId('push-files').setInputFiles([
        { name: 'big.bin', mimeType: 'application/octet-stream', buffer: big },
        { name: 'hello.txt', mimeType: 'text/plain', buffer: small },
      ]);
      expect(await page.getByTestId('push-list').locator('li').count()).toBe(2);
      await page.getByTestId('push-dest').fill(`${drop()}/in/`);
      await page.getByTestId('push-mode').fill('0640');
      const before = await current();
      await page.getByTestId('run').click();
      const result = await finished(before);
      for (const [i, id] of ids.entries()) {
        const pane = result.locator(`article[data-host="${id}"]`);
        expect(await pane.getAttribute('data-status')).toBe('ok');
        expect(await pane.getByTestId('output').textContent()).toContain(`hello.txt (23 B) → ${drop()}/in/hello.txt`);
        // Each host's own directory, as the bind mount showed it to that agent.
        expect((await readFile(join(hostDir(i), 'in', 'big.bin'))).equals(big)).toBe(true);
        expect(await readFile(join(hostDir(i), 'in', 'hello.txt'), 'utf8')).toBe(small.toString());
        expect((await stat(join(hostDir(i), 'in', 'hello.txt'))).mode & 0o777).toBe(0o640);
      }
    }));

  test('a fetched file arrives from each host as its own download', () =>
    step(async () => {
      const { page } = stack;
      for (const i of [0, 1]) await writeFile(join(hostDir(i), 'motd'), `message of host ${i}\n`);
      await go('#/run');
      await page.getByTestId('mode-fetch').click();
      await page.getByTestId('fetch-path').fill(`${drop()}/motd`);
      const before = await current();
      await page.getByTestId('run').click();
      const result = await finished(before);
      for (const [i, id] of ids.entries()) {
        const pane = result.locator(`article[data-host="${id}"]`);
        expect(await pane.getAttribute('data-status')).toBe('ok');
        const [download] = await Promise.all([page.waitForEvent('download'), pane.getByTestId('download').click()]);
        expect(download.suggestedFilename()).toMatch(new RegExp(`-${id.slice(0, 8)}-motd$`));
        expect(await readFile((await download.path())!, 'utf8')).toBe(`message of host ${i}\n`);
      }
    }));

  test('screenshots of the host page and the composer modes at phone and desktop sizes', () =>
    step(async () => {
      const { page } = stack;
      const sizes = [
        ['desktop', { width: 1280, height: 800 }],
        ['phone', { width: 360, height: 740 }],
      ] as const;
      /** Full-page screenshots `desktop-<name>` and `phone-<name>`, back at desktop size after. */
      const atEverySize = async (name: string) => {
        for (const [size, viewport] of sizes) {
          await page.setViewportSize(viewport);
          await screenshot(page, `${size}-${name}`, true);
        }
        await page.setViewportSize(sizes[0][1]);
      };
      await go(`#/hosts/${ids[0]}`);
      await page.locator('[data-testid="connection"][data-state="connected"]').waitFor({ timeout: 30_000 });
      await atEverySize('host');
      await go('#/hosts');
      await screenshot(page, 'desktop-hosts-connections');
      await go('#/run');
      await page.getByTestId('mode-script').click();
      await page.getByTestId('selector').fill('tag:role=files');
      await page
        .getByTestId('script')
        .fill(
          `for c in 31 32 33 34 35 36; do printf '\\033[%sm■ colour %s\\033[0m ' $c $c; done; echo\nprintf '\\033[1mbold\\033[0m \\033[2mdim\\033[0m \\033[4munderline\\033[0m \\033[38;5;208m256-colour\\033[0m \\033[48;2;40;80;160m true colour \\033[0m\\n'\necho "args: $*"; echo "warning: on stderr" >&2`,
        );
      await page.getByTestId('script-args').fill('--verbose "two words"');
      const before = await current();
      await page.getByTestId('run').click();
      await finished(before);
      await atEverySize('run-script');
      await page.getByTestId('mode-push').click();
      await page.getByTestId('push-files').setInputFiles([
        { name: 'app.conf', mimeType: 'text/plain', buffer: Buffer.from('port = 8080\n') },
        { name: 'release-2026-11.tar.gz', mimeType: 'application/gzip', buffer: Buffer.alloc(300_000, 1) },
      ]);
      await page.getByTestId('push-dest').fill(`${drop()}/etc/`);
      const beforePush = await current();
      await page.getByTestId('run').click();
      await finished(beforePush);
      await atEverySize('run-push');
      await page.getByTestId('mode-fetch').click();
      await page.getByTestId('fetch-path').fill(`${drop()}/motd`);
      const beforeFetch = await current();
      await page.getByTestId('run').click();
      await finished(beforeFetch);
      await atEverySize('run-fetch');
      await page.emulateMedia({ colorScheme: 'dark' });
      await go(`#/hosts/${ids[0]}`);
      await screenshot(page, 'desktop-host-dark');
      await page.emulateMedia({ colorScheme: 'light' });
    }));

  test('a stopped agent shows offline, and a task to it reports unreachable', () =>
    step(async () => {
      const { page } = stack;
      await stack.agents[1]!.stop();
      await go('#/hosts');
      await page.locator(`tr[data-host="${ids[1]}"][data-state="offline"]`).waitFor({ timeout: 30_000 });
      await go('#/run');
      await page.getByTestId('mode-command').click();
      await page.getByTestId('selector').fill('tag:role=files');
      await expect.poll(() => page.getByTestId('match-count').getAttribute('data-count')).toBe('2');
      await page.getByTestId('command').fill('echo still-here');
      const before = await current();
      await page.getByTestId('run').click();
      const result = await finished(before);
      const gone = result.locator(`article[data-host="${ids[1]}"]`);
      expect(await gone.getAttribute('data-status')).toBe('unreachable');
      expect(await gone.locator('.error').textContent()).toContain('offline according to the signaling server');
      expect(await result.locator(`article[data-host="${ids[0]}"]`).getAttribute('data-status')).toBe('ok');
      await result.getByTestId('rerun-failed').waitFor();
    }));
});
