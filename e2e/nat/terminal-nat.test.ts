// The terminal across a real network cut: the agent behind router 1, `flotilla shell` (in tmux,
// inside site 2's namespace) behind router 2, a loop printing 1..20 every half second. Mid-run,
// router 2 drops every packet it forwards for a while (the laptop's Wi-Fi gone), then forwards
// again; the shell must come back to the same session and show every number exactly once. The
// CLI's connection events (-v) go to a file, so the test can say how it came back. Then the PWA:
// Chromium in site 2 (the CLI's fleet imported), its terminal view through the same cut. Root
// only; skipped with the reason elsewhere (the PWA part without Chromium or dist/web). One
// topology for the file.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { natUnavailableReason } from './topology.ts';
import { CHROMIUM } from '../browser/browser-harness.ts';
import { BIN, chromiumInSite2, ROOT, SIGNAL_PORT, startStack, waitOnline, type Stack } from './stack.ts';

const tmuxMissing = (() => {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'needs tmux (apt-get install tmux)';
  }
})();
const unavailable = natUnavailableReason() ?? tmuxMissing;
if (unavailable) console.warn(`terminal NAT tests skipped: ${unavailable}`);

const noBrowser = existsSync(CHROMIUM)
  ? existsSync(join(ROOT, 'dist/web/index.html'))
    ? undefined
    : 'needs the built PWA in dist/web (npm run build:web)'
  : `needs Chromium at ${CHROMIUM} (apt-get install chromium)`;

const SOCKET = `flotilla-term-nat-${process.pid}`;
const PROMPT = /[#$] $/m;
const LOOP = 'for i in $(seq 1 20); do echo $i; sleep 0.5; done; echo LOOP-DONE';

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}

function screen(target: string): string {
  return tmux('capture-pane', '-p', '-J', '-S', '-2000', '-t', target);
}

async function waitScreen(target: string, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = screen(target);
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in the pane:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The numbers the pane shows on lines of their own, in order. */
function numbersOn(text: string): number[] {
  return text
    .split('\n')
    .filter((l) => /^\d+$/.test(l.trim()))
    .map(Number);
}

const ONE_TO_TWENTY = Array.from({ length: 20 }, (_, i) => i + 1);

describe.skipIf(unavailable !== undefined)(`terminal through NAT${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let stack: Stack | undefined;
  let socketPath: string | undefined;
  const s = () => {
    if (!stack) throw new Error('the stack did not start');
    return stack;
  };
  /** Router 2 forwards nothing (both directions: the shell's data channel and its signaling socket). */
  const cut = () => execFileSync('ip', ['netns', 'exec', s().topo.ns.r2, 'iptables', '-I', 'FORWARD', '1', '-m', 'comment', '--comment', 'cut', '-j', 'DROP']);
  const restore = () => execFileSync('ip', ['netns', 'exec', s().topo.ns.r2, 'iptables', '-D', 'FORWARD', '-m', 'comment', '--comment', 'cut', '-j', 'DROP']);

  beforeAll(async () => {
    stack = await startStack({ nat1: 'masquerade', nat2: 'masquerade' });
    await waitOnline(stack);
    execFileSync('tmux', ['-L', SOCKET, '-f', '/dev/null', 'new-session', '-d', '-s', 'main', '-x', '100', '-y', '30']);
    socketPath = tmux('display-message', '-p', '#{socket_path}').trim();
  }, 180_000);

  afterAll(async () => {
    try {
      execFileSync('tmux', ['-L', SOCKET, 'kill-server'], { stdio: 'ignore' });
    } catch {
      // no server left
    }
    // tmux leaves its socket file behind.
    if (socketPath) rmSync(socketPath, { force: true });
    await stack?.destroy();
  }, 60_000);

  /** Runs `wait`; when it fails, prints the CLI's connection events, the agent's log and its sessions. */
  async function withDiagnostics<T>(log: string, wait: () => Promise<T>): Promise<T> {
    try {
      return await wait();
    } catch (error) {
      const sessions = await s().cli(['shell', 'tag:site=one', '--list', '--json']);
      console.log(`the CLI's connection events:\n${await readFile(log, 'utf8')}\nagent:\n${s().agent.output().slice(-6000)}\nsessions: ${sessions.output}`);
      throw error;
    }
  }

  /** A tmux session running `flotilla shell -v args…` in site 2; its connection events go to `<name>.log`, its status shows as EXIT:n. */
  function shellWindow(name: string, args: string[]): { log: string } {
    const st = s();
    const log = join(st.base, `${name}.log`);
    const words = [process.execPath, join(BIN, 'flotilla.js'), 'shell', '-v', 'tag:site=one', ...args].map((w) => `'${w}'`).join(' ');
    const cmd = `ip netns exec ${st.topo.ns.s2} env FLOTILLA_HOME=${st.admin} NO_COLOR=1 ${words} 2>${log}; echo EXIT:$?; sleep 600`;
    tmux('new-session', '-d', '-s', name, '-x', '100', '-y', '30', 'sh', '-c', cmd);
    return { log };
  }

  it('a 3 s cut mid-loop: the shell carries on in the same session, every number once', async () => {
    const { log } = shellWindow('short', []);
    await waitScreen('short', PROMPT, 60_000);
    tmux('send-keys', '-t', 'short', LOOP, 'Enter');
    await waitScreen('short', /^3$/m);
    cut();
    try {
      await new Promise((r) => setTimeout(r, 3_000));
      // Nothing crosses while cut: the pane is behind the loop.
      expect(numbersOn(screen('short')).at(-1)).toBeLessThan(12);
    } finally {
      restore();
    }
    const text = await withDiagnostics(log, () => waitScreen('short', /^LOOP-DONE$/m, 60_000));
    expect(numbersOn(text)).toEqual(ONE_TO_TWENTY);
    tmux('send-keys', '-t', 'short', 'exit', 'Enter');
    await waitScreen('short', /^EXIT:0$/m);
  }, 120_000);

  it('a 20 s cut mid-loop (past the 12 s watchdog of the link): the pings of the CLI notice, it dials again and reattaches, every number once', async () => {
    const { log } = shellWindow('long', []);
    await waitScreen('long', PROMPT, 60_000);
    tmux('send-keys', '-t', 'long', 'MARK=before-cut', 'Enter');
    tmux('send-keys', '-t', 'long', LOOP, 'Enter');
    await waitScreen('long', /^3$/m);
    cut();
    try {
      await new Promise((r) => setTimeout(r, 20_000));
      expect(numbersOn(screen('long')).at(-1)).toBeLessThan(12);
    } finally {
      restore();
    }
    const text = await withDiagnostics(log, () => waitScreen('long', /^LOOP-DONE$/m, 60_000));
    expect(numbersOn(text)).toEqual(ONE_TO_TWENTY);
    // It noticed the silence itself (terminal pings) and came back over a new connection, into the same session.
    expect(await readFile(log, 'utf8')).toMatch(/\[flotilla: no answer from \S+ for \d+ s; reconnecting\]/);
    expect(await readFile(join(s().base, 'agent', 'audit.log'), 'utf8')).toMatch(/"code":"reattached"/);
    tmux('send-keys', '-t', 'long', 'echo same-$MARK', 'Enter');
    await waitScreen('long', /^same-before-cut$/m);
    tmux('send-keys', '-t', 'long', 'exit', 'Enter');
    await waitScreen('long', /^EXIT:0$/m);
  }, 150_000);

  describe.skipIf(noBrowser !== undefined)(`the PWA${noBrowser ? ` (skipped: ${noBrowser})` : ''}`, () => {
    let context: BrowserContext | undefined;
    afterAll(async () => {
      await context?.close().catch(() => undefined);
    });

    /** Chromium in site 2 (through a wrapper given to Playwright), the CLI's fleet imported, the agent's terminal open. */
    async function terminalInSite2(): Promise<Page> {
      const st = s();
      context = await chromiumInSite2(st, { width: 1100, height: 700 });
      const origin = `http://${st.topo.addr.pub}:${SIGNAL_PORT}`;
      const page = context.pages()[0] ?? (await context.newPage());
      const passphraseFile = join(st.base, 'passphrase');
      await writeFile(passphraseFile, 'nat terminal passphrase\n', { mode: 0o600 });
      const exported = await st.cli(['fleet', 'export', '--passphrase-file', passphraseFile]);
      expect(exported.code, exported.output).toBe(0);
      await page.goto(`${origin}/#import=${exported.stdout.trim()}`);
      await page.getByLabel('Name this device').fill('browser behind NAT');
      await page.getByLabel('Backup passphrase', { exact: true }).fill('nat terminal passphrase');
      await page.getByRole('button', { name: 'Import fleet' }).click();
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: 30_000 });
      await page.goto(`${origin}/#/terminal/${st.agentId}`);
      await page.locator('[data-testid="terminal-view"][data-status="open"]').waitFor({ timeout: 60_000 });
      return page;
    }

    /** The terminal's lines (wrapped lines joined). */
    function lines(page: Page): Promise<string[]> {
      return page.getByTestId('terminal').evaluate((el) => {
        const buffer = (el as unknown as { xterm: import('@xterm/xterm').Terminal }).xterm.buffer.active;
        const out: string[] = [];
        for (let i = 0; i < buffer.length; i++) {
          const line = buffer.getLine(i);
          if (!line) continue;
          const text = line.translateToString(true);
          if (line.isWrapped && out.length) out[out.length - 1] += text;
          else out.push(text);
        }
        return out;
      });
    }

    async function waitLine(page: Page, pattern: RegExp, timeout: number): Promise<void> {
      await expect.poll(async () => (await lines(page)).some((l) => pattern.test(l)), { timeout, interval: 200 }).toBe(true);
    }

    // Chromium rides a 12 s cut out on its own: its SCTP retransmits once the path is back, and
    // the page never leaves 'open' (a longer cut, past ICE's 30 s, closes the connection and the
    // page reattaches as e2e/browser/terminal.test.ts checks with a closed peer connection).
    it('a 12 s cut mid-loop: the page shows every number once, in the same shell', async () => {
      const page = await terminalInSite2();
      await page.locator('[data-testid="terminal"] textarea').focus();
      await page.keyboard.type(`MARK=page-before-cut; ${LOOP}`);
      await page.keyboard.press('Enter');
      await waitLine(page, /^3$/, 30_000);
      cut();
      try {
        await new Promise((r) => setTimeout(r, 12_000));
      } finally {
        restore();
      }
      await waitLine(page, /^LOOP-DONE$/, 60_000);
      const numbers = (await lines(page)).filter((l) => /^\d+$/.test(l.trim())).map(Number);
      expect(numbers).toEqual(ONE_TO_TWENTY);
      await page.keyboard.type('echo same-$MARK');
      await page.keyboard.press('Enter');
      await waitLine(page, /^same-page-before-cut$/, 30_000);
    }, 150_000);
  });
});
