// The PWA's terminal against the real stack (signaling server, an agent with a real pty, Chromium):
// a command's output read from xterm's buffer, the host page's tab and the full-screen view
// sharing one session, full-screen programs, a resize the shell sees, Ctrl-C, a 100 KB paste
// checked on the host, a reload and a cut connection during output after which every line is
// there exactly once, the phone key row, ending a session, its recording played back in the
// Recordings tab, and devices refused a shell.

import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { browserAs, createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

/** The screen and scrollback as text, one string per line (wrapped lines joined). */
async function screenLines(page: Page): Promise<string[]> {
  return page.getByTestId('terminal').evaluate((el) => {
    const term = (el as unknown as { xterm: import('@xterm/xterm').Terminal }).xterm;
    const buffer = term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i);
      if (!line) continue;
      const text = line.translateToString(true);
      if (line.isWrapped && lines.length) lines[lines.length - 1] += text;
      else lines.push(text);
    }
    return lines;
  });
}

async function bufferType(page: Page): Promise<string> {
  return page.getByTestId('terminal').evaluate((el) => (el as unknown as { xterm: import('@xterm/xterm').Terminal }).xterm.buffer.active.type);
}

async function termSize(page: Page): Promise<{ cols: number; rows: number }> {
  return page.getByTestId('terminal').evaluate((el) => {
    const term = (el as unknown as { xterm: import('@xterm/xterm').Terminal }).xterm;
    return { cols: term.cols, rows: term.rows };
  });
}

/** Types a line into the terminal (xterm's hidden textarea has the focus) and presses Enter. */
async function typeLine(page: Page, text: string): Promise<void> {
  await page.locator('[data-testid="terminal"] textarea').focus();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

/** Waits until some line of the terminal matches `pattern`; returns every match's first group (or the line). */
async function waitForLine(page: Page, pattern: RegExp, timeout = 30_000): Promise<string[]> {
  let found: string[] = [];
  await expect
    .poll(
      async () => {
        found = (await screenLines(page)).flatMap((l) => {
          const m = pattern.exec(l);
          return m ? [m[1] ?? m[0]] : [];
        });
        return found.length;
      },
      { timeout, interval: 100 },
    )
    .toBeGreaterThan(0);
  return found;
}

/** Pids of processes whose command line is exactly `argv`, from /proc (the agent runs on this machine). */
function pidsOf(argv: string[]): number[] {
  const wanted = `${argv.join('\0')}\0`;
  return readdirSync('/proc').flatMap((name) => {
    if (!/^\d+$/.test(name)) return [];
    try {
      return readFileSync(`/proc/${name}/cmdline`, 'latin1') === wanted ? [Number(name)] : [];
    } catch {
      return []; // the process ended while the list was read
    }
  });
}

describe('the terminal in the browser', () => {
  let stack: Stack;
  let hostId = '';
  let failures = 0;
  const MARK = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const pasteFile = join(tmpdir(), `flotilla-paste-${MARK}`);

  beforeAll(async () => {
    stack = await startStack();
    await stack.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.url });
    // Keeps the page's peer connections reachable, so that a test can cut one as a network would.
    await stack.context.addInitScript(() => {
      const Native = window.RTCPeerConnection;
      const all: RTCPeerConnection[] = [];
      Object.assign(window, { peerConnectionsForTests: all });
      window.RTCPeerConnection = class extends Native {
        constructor(...args: ConstructorParameters<typeof RTCPeerConnection>) {
          super(...args);
          all.push(this);
        }
      };
    });
    const { page } = stack;
    await createFleetInUi(page, stack.url);
    const { token } = await makeTokenInUi(page, 1);
    hostId = (await stack.startAgent(token, 'term-host')).id;
    await page.locator(`tr[data-host="${hostId}"][data-state="online"]`).waitFor({ timeout: 60_000 });
  });

  afterAll(async () => {
    await stack?.stop();
    await rm(pasteFile, { force: true });
  });

  async function step(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      await screenshot(stack.page, `terminal-failure-${++failures}`).catch(() => undefined);
      const screen = await screenLines(stack.page).catch(() => ['(no terminal)']);
      throw new Error(`${(error as Error).message}\n--- terminal\n${screen.join('\n').trimEnd().split('\n').slice(-30).join('\n')}\n${stack.logs()}`, {
        cause: error,
      });
    }
  }

  test('the host page has a Terminal tab; `echo $((6*7))` prints 42 in it', () =>
    step(async () => {
      const { page } = stack;
      await page.evaluate((id) => void (location.hash = `#/hosts/${id}`), hostId);
      await page.locator('[data-testid="host-tabs"] [data-tab="terminal"]').click();
      await page.locator('[data-testid="terminal-view"][data-status="open"]').waitFor({ timeout: 60_000 });
      // The shell's prompt first, as a person would wait for it. Typed before the login shell had
      // started, under load, the line was echoed by the pty and then nothing more came for over a
      // minute, in 3 runs of 5 (not explained yet; reported to the agent's side).
      await waitForLine(page, /([#$]) ?$/, 60_000);
      await typeLine(page, 'echo $((6*7))');
      expect(await waitForLine(page, /^(42)$/)).toEqual(['42']);
    }));

  test('the full-screen view reattaches to the same session: what it printed is there once', () =>
    step(async () => {
      const { page } = stack;
      await page.getByTestId('terminal-full-screen').click();
      await page.getByTestId('terminal-page').waitFor();
      await page.locator('[data-testid="terminal-view"][data-status="open"]').waitFor({ timeout: 30_000 });
      // The same shell: its earlier output is replayed, once, and a variable set now stays set.
      expect(await waitForLine(page, /^(42)$/)).toEqual(['42']);
      await typeLine(page, `X=${MARK}; echo "x=$X"`);
      expect(await waitForLine(page, /^x=(\S+)$/)).toEqual([MARK]);
    }));

  test('top runs full screen and q quits it; vi switches to the alternate screen and back', () =>
    step(async () => {
      const { page } = stack;
      await typeLine(page, 'top -d 1');
      await waitForLine(page, /(load average)/);
      await waitForLine(page, /^\s*(PID)\s+USER/);
      await page.keyboard.press('q');
      // top discards typed-ahead input when it restores the terminal: type once it is gone.
      await expect.poll(() => pidsOf(['top', '-d', '1']).length, { timeout: 30_000 }).toBe(0);
      await typeLine(page, 'echo "top-done=$?"');
      expect(await waitForLine(page, /^top-done=(\d+)$/)).toEqual(['0']);
      await typeLine(page, 'vi');
      await expect.poll(() => bufferType(page), { timeout: 30_000 }).toBe('alternate');
      await page.keyboard.type(':q');
      await page.keyboard.press('Enter');
      await expect.poll(() => bufferType(page), { timeout: 30_000 }).toBe('normal');
      await expect.poll(() => pidsOf(['vi']).length, { timeout: 30_000 }).toBe(0);
    }));

  test('a smaller window gives the shell fewer columns (tput cols)', () =>
    step(async () => {
      const { page } = stack;
      await typeLine(page, 'echo "cols=$(tput cols) first"');
      const [before] = await waitForLine(page, /^cols=(\d+) first$/);
      expect(Number(before)).toBe((await termSize(page)).cols);
      await page.setViewportSize({ width: 640, height: 700 });
      await expect.poll(async () => (await termSize(page)).cols).toBeLessThan(Number(before));
      const { cols } = await termSize(page);
      await typeLine(page, 'echo "cols=$(tput cols) second"');
      expect(await waitForLine(page, /^cols=(\d+) second$/)).toEqual([String(cols)]);
      await page.setViewportSize({ width: 1280, height: 800 });
    }));

  test('Ctrl-C stops `sleep 100`', () =>
    step(async () => {
      const { page } = stack;
      const before = new Set(pidsOf(['sleep', '100']));
      await typeLine(page, 'sleep 100');
      let sleeper = 0;
      await expect.poll(() => (sleeper = pidsOf(['sleep', '100']).find((p) => !before.has(p)) ?? 0), { timeout: 30_000 }).toBeGreaterThan(0);
      await page.keyboard.press('Control+C');
      await expect.poll(() => pidsOf(['sleep', '100']).includes(sleeper), { timeout: 30_000 }).toBe(false);
      await typeLine(page, 'echo "sleep-status=$?"');
      expect(await waitForLine(page, /^sleep-status=(\d+)$/)).toEqual(['130']);
    }));

  test('a 100 KB paste arrives intact (sha256 on the host)', () =>
    step(async () => {
      const { page } = stack;
      // Lines of 76 characters: the pty's line discipline keeps at most 4095 bytes of one line.
      const text = `${(
        randomBytes(75_000)
          .toString('base64')
          .match(/.{1,76}/g) ?? []
      ).join('\n')}\n`;
      expect(text.length).toBeGreaterThan(100_000);
      const expected = createHash('sha256').update(text).digest('hex');
      await page.evaluate((t) => navigator.clipboard.writeText(t), text);
      const cats = new Set(pidsOf(['cat']));
      await typeLine(page, `cat > ${pasteFile}`);
      // Pasted before cat runs, the text would go to the shell's line editor instead.
      await expect.poll(() => pidsOf(['cat']).filter((p) => !cats.has(p)).length, { timeout: 30_000 }).toBeGreaterThan(0);
      await page.getByTestId('terminal-paste').click();
      // When every line reached cat, Ctrl-D on the empty last line ends it.
      const arrived = () => readFile(pasteFile, 'utf8').catch(() => '');
      try {
        await expect
          .poll(
            async () =>
              createHash('sha256')
                .update(await arrived())
                .digest('hex'),
            { timeout: 60_000 },
          )
          .toBe(expected);
      } catch (error) {
        const got = await arrived();
        let same = 0;
        while (same < got.length && got[same] === text[same]) same++;
        throw new Error(
          `the host has ${got.length} of ${text.length} characters, the same up to ${same}: ` +
            `sent ${JSON.stringify(text.slice(same, same + 40))}, got ${JSON.stringify(got.slice(same, same + 40))}`,
          { cause: error },
        );
      }
      await page.locator('[data-testid="terminal"] textarea').focus();
      await page.keyboard.press('Control+D');
      await typeLine(page, `sha256sum ${pasteFile} | cut -c1-64`);
      expect(await waitForLine(page, /^([0-9a-f]{64})$/)).toEqual([expected]);
    }));

  test('a reload while output runs reattaches, and every line is there exactly once', () =>
    step(async () => {
      const { page } = stack;
      await typeLine(page, 'for i in $(seq 1 20); do echo "n$i"; sleep 0.5; done; echo loop-done');
      await waitForLine(page, /^(n3)$/);
      await page.reload();
      await page.locator('[data-testid="terminal-view"][data-status="open"]').waitFor({ timeout: 60_000 });
      await waitForLine(page, /^(loop-done)$/, 60_000);
      const lines = await screenLines(page);
      const numbers = lines.flatMap((l) => /^n(\d+)$/.exec(l)?.[1] ?? []).map(Number);
      expect(numbers).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      // The replay held vi's queries (cursor position, colours); xterm's answers to them were not
      // typed into the loop (the pty would have echoed them as ^[[…).
      expect(lines.filter((l) => l.includes('^['))).toEqual([]);
      // The shell's state survived the reload too.
      await typeLine(page, 'echo "still=$X"');
      expect(await waitForLine(page, /^still=(\S+)$/)).toEqual([MARK]);
    }));

  test('a dropped connection reattaches by itself from the first byte it lacks: every line once', () =>
    step(async () => {
      const { page } = stack;
      // Every status the view goes through from here on.
      await page.getByTestId('terminal-view').evaluate((el) => {
        const seen = [el.getAttribute('data-status')];
        Object.assign(window, { terminalStatusesForTests: seen });
        new MutationObserver(() => seen.push(el.getAttribute('data-status'))).observe(el, { attributes: true, attributeFilter: ['data-status'] });
      });
      await typeLine(page, 'for i in $(seq 1 12); do echo "d$i"; sleep 0.3; done; echo drop-done');
      await waitForLine(page, /^(d2)$/);
      const cut = await page.evaluate(() => {
        const open = (window as unknown as { peerConnectionsForTests: RTCPeerConnection[] }).peerConnectionsForTests.filter(
          (pc) => pc.connectionState !== 'closed',
        );
        for (const pc of open) pc.close();
        return open.length;
      });
      expect(cut).toBeGreaterThan(0);
      await waitForLine(page, /^(drop-done)$/, 60_000);
      const numbers = (await screenLines(page)).flatMap((l) => /^d(\d+)$/.exec(l)?.[1] ?? []).map(Number);
      expect(numbers).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      const statuses = await page.evaluate(() => (window as unknown as { terminalStatusesForTests: string[] }).terminalStatusesForTests);
      expect(statuses).toContain('reconnecting');
      expect(statuses.at(-1)).toBe('open');
      await typeLine(page, 'echo "after-drop=$X"');
      expect(await waitForLine(page, /^after-drop=(\S+)$/)).toEqual([MARK]);
    }));

  test('on a phone-sized screen the key row sends Ctrl-C and recalls history with ↑', () =>
    step(async () => {
      const { page } = stack;
      await page.setViewportSize({ width: 390, height: 740 });
      const keys = page.getByTestId('phone-keys');
      await keys.waitFor();
      const before = new Set(pidsOf(['sleep', '100']));
      await typeLine(page, 'sleep 100');
      let sleeper = 0;
      await expect.poll(() => (sleeper = pidsOf(['sleep', '100']).find((p) => !before.has(p)) ?? 0), { timeout: 30_000 }).toBeGreaterThan(0);
      await keys.locator('[data-key="ctrl"]').click();
      expect(await keys.locator('[data-key="ctrl"]').getAttribute('aria-pressed')).toBe('true');
      await page.keyboard.type('c');
      await expect.poll(() => pidsOf(['sleep', '100']).includes(sleeper), { timeout: 30_000 }).toBe(false);
      expect(await keys.locator('[data-key="ctrl"]').getAttribute('aria-pressed')).toBe('false');
      await typeLine(page, 'echo "phone-$((40+2))"');
      await waitForLine(page, /^(phone-42)$/);
      await keys.locator('[data-key="up"]').click();
      await page.keyboard.press('Enter');
      await expect.poll(async () => (await screenLines(page)).filter((l) => l === 'phone-42').length, { timeout: 30_000 }).toBe(2);
      await page.setViewportSize({ width: 1280, height: 800 });
    }));

  test('End session hangs the shell up after a confirmation; New session starts another', () =>
    step(async () => {
      const { page } = stack;
      await typeLine(page, 'echo "shell-pid=$$"');
      const [pid] = await waitForLine(page, /^shell-pid=(\d+)$/);
      page.once('dialog', (dialog) => void dialog.accept());
      await page.getByTestId('terminal-end').click();
      await page.locator('[data-testid="terminal-view"][data-status="ended"]').waitFor({ timeout: 30_000 });
      expect(await page.getByTestId('terminal-status').textContent()).toContain('The session ended');
      expect(readdirSync('/proc')).not.toContain(pid); // the shell is gone from the host
      await page.getByTestId('terminal-new').click();
      await page.locator('[data-testid="terminal-view"][data-status="open"]').waitFor({ timeout: 60_000 });
      await waitForLine(page, /([#$]) ?$/, 60_000);
      await typeLine(page, 'echo "new-shell=${X:-unset}"');
      expect(await waitForLine(page, /^new-shell=(\S+)$/)).toEqual(['unset']);
    }));

  test('larger text means fewer columns for the shell; Find selects a match in the scrollback', () =>
    step(async () => {
      const { page } = stack;
      const before = await termSize(page);
      const shown = page.getByTestId('terminal-font-size');
      const size = Number.parseInt((await shown.textContent()) ?? '', 10);
      await page.getByRole('button', { name: 'Larger text' }).click();
      await page.getByRole('button', { name: 'Larger text' }).click();
      await expect.poll(async () => shown.textContent()).toBe(`${size + 2}px`);
      await expect.poll(async () => (await termSize(page)).cols).toBeLessThan(before.cols);
      await typeLine(page, 'echo "cols=$(tput cols) larger"');
      expect(await waitForLine(page, /^cols=(\d+) larger$/)).toEqual([String((await termSize(page)).cols)]);
      await page.getByTestId('terminal-search-toggle').click();
      await page.getByTestId('terminal-search').fill('new-shell=unset');
      await expect
        .poll(() => page.getByTestId('terminal').evaluate((el) => (el as unknown as { xterm: import('@xterm/xterm').Terminal }).xterm.getSelection()))
        .toBe('new-shell=unset');
      await page.getByRole('button', { name: 'Smaller text' }).click();
      await page.getByRole('button', { name: 'Smaller text' }).click();
    }));

  test('the Recordings tab plays an ended session back: what the shell showed is in the player', () =>
    step(async () => {
      const { page } = stack;
      // A session of its own, ended, so that its recording is short and known.
      await page.evaluate((id) => void (location.hash = `#/hosts/${id}`), hostId);
      await page.locator('[data-testid="host-tabs"] [data-tab="terminal"]').click();
      await page.locator('[data-testid="terminal-view"][data-status="open"]').waitFor({ timeout: 60_000 });
      await typeLine(page, `echo "rec=$((6*7))-${MARK}"`);
      await waitForLine(page, /^(rec=42-\S+)$/);
      page.once('dialog', (dialog) => void dialog.accept());
      await page.getByTestId('terminal-end').click();
      await page.locator('[data-testid="terminal-view"][data-status="ended"]').waitFor({ timeout: 30_000 });

      await page.locator('[data-testid="host-tabs"] [data-tab="recordings"]').click();
      const ended = page.locator('[data-testid="recording-row"][data-ended="true"]');
      await ended.first().waitFor({ timeout: 30_000 });
      await page.getByTestId('recording-speed').selectOption('max');
      // Newest first: the session just ended is the first ended row.
      await ended.first().getByTestId('recording-play').click();
      // Played to its end (the button reads "Play again" before playback starts, too: not a signal).
      await page.locator('[data-testid="recording-player"][data-finished="true"]').waitFor({ timeout: 30_000 });
      const played = await page.getByTestId('recording-screen').evaluate((el) => {
        const buffer = (el as unknown as { xterm: import('@xterm/xterm').Terminal }).xterm.buffer.active;
        return Array.from({ length: buffer.length }, (_, n) => buffer.getLine(n)?.translateToString(true) ?? '');
      });
      expect(played).toContain(`rec=42-${MARK}`);
      await screenshot(page, 'recordings-player');
    }));

  test.each([
    { name: 'viewer phone', role: 'viewer' as const, deny: undefined, says: 'viewer' },
    { name: 'no-shell laptop', role: 'operator' as const, deny: ['shell' as const], says: 'does not allow a shell' },
  ])('a device that may not open a shell ($name) gets a refusal that says why, and no terminal', ({ name, role, deny, says }) =>
    step(async () => {
      const other = await browserAs(stack, name, role, deny);
      await other.goto(`${stack.url}#/terminal/${hostId}`);
      await other.reload(); // the app reads its identity when it starts
      await other.getByTestId('terminal-page').waitFor({ timeout: 30_000 });
      const refusal = other.getByTestId('terminal-refused');
      await refusal.waitFor();
      expect(await refusal.textContent()).toContain(says);
      expect(await other.getByTestId('terminal').count()).toBe(0);
    }),
  );
});
