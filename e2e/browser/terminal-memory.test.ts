// The PWA's terminal under a `cat` of a large file (issue 16): the real stack (signaling server,
// an agent with a real pty, Chromium). The page's JavaScript heap, read through the DevTools
// protocol after a forced garbage collection, stays within what xterm's bounded scrollback needs,
// during the cat as well as after it; and the agent's RSS stays bounded too: the page
// acknowledges output only once xterm has parsed it, so neither side buffers what the other has
// not taken.

import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFleetInUi, makeTokenInUi, screenshot, startStack, type Stack } from './browser-harness.ts';

/** Size of the file the terminal shows (FLOTILLA_TERMINAL_MEMORY_MB to change it). */
const MB = Number(process.env['FLOTILLA_TERMINAL_MEMORY_MB'] ?? 50);
const MiB = 1024 * 1024;
/** Bytes per cell of an xterm buffer line (three 32-bit words: code point, foreground, background). */
const CELL_BYTES = 12;

type XTerm = import('@xterm/xterm').Terminal;

/** The last `count` lines of the terminal (screen and scrollback) as text. */
async function lastLines(page: Page, count: number): Promise<string[]> {
  return page.getByTestId('terminal').evaluate((el, n) => {
    const buffer = (el as unknown as { xterm: XTerm }).xterm.buffer.active;
    const lines: string[] = [];
    for (let i = Math.max(0, buffer.length - n); i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
    return lines;
  }, count);
}

async function waitForLine(page: Page, pattern: RegExp, timeout: number): Promise<void> {
  await expect.poll(async () => (await lastLines(page, 60)).some((l) => pattern.test(l)), { timeout, interval: 200 }).toBe(true);
}

/**
 * The page's live JavaScript memory in bytes: a full garbage collection first, then V8's used
 * heap, the embedder's (Blink's) garbage-collected heap, and the backing stores of array buffers
 * and external strings. xterm keeps its buffer lines in typed arrays, and output arrives as
 * Uint8Arrays: both live in backing stores, outside V8's heap proper.
 */
async function liveHeap(cdp: CDPSession): Promise<number> {
  await cdp.send('HeapProfiler.collectGarbage');
  const usage = await cdp.send('Runtime.getHeapUsage');
  return usage.usedSize + (usage.embedderHeapUsedSize ?? 0) + (usage.backingStorageSize ?? 0);
}

function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

describe('the terminal in the browser under a large cat', () => {
  let stack: Stack;
  let hostId = '';
  let agentPid = 0;
  const MARK = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const bigFile = join(tmpdir(), `flotilla-cat-${MARK}.txt`);

  beforeAll(async () => {
    await new Promise<void>((resolve, reject) => {
      const out = createWriteStream(bigFile);
      const block = ('y'.repeat(99) + '\n').repeat(10_000); // 1 MB
      let n = 0;
      const more = () => {
        while (n < MB) {
          n++;
          if (!out.write(block)) return void out.once('drain', more);
        }
        out.end(resolve);
      };
      out.on('error', reject);
      more();
    });
    stack = await startStack();
    const { page } = stack;
    await createFleetInUi(page, stack.url);
    const { token } = await makeTokenInUi(page, 1);
    const agent = await stack.startAgent(token, 'cat-host');
    hostId = agent.id;
    // unshare execs sh, which execs node: the child's pid is the agent's.
    agentPid = agent.child.pid!;
    await page.locator(`tr[data-host="${hostId}"][data-state="online"]`).waitFor({ timeout: 60_000 });
  });

  afterAll(async () => {
    await stack?.stop();
    await rm(bigFile, { force: true });
  });

  test(`cat of ${MB} MB: the page's heap stays within the scrollback's size, during and after, and the agent's RSS bounded`, async () => {
    const { page } = stack;
    try {
      await page.evaluate((id) => void (location.hash = `#/hosts/${id}`), hostId);
      await page.locator('[data-testid="host-tabs"] [data-tab="terminal"]').click();
      await page.locator('[data-testid="terminal-view"][data-status="open"]').waitFor({ timeout: 60_000 });
      await waitForLine(page, /[#$] ?$/, 60_000);
      const term = await page.getByTestId('terminal').evaluate((el) => {
        const t = (el as unknown as { xterm: XTerm }).xterm;
        return { cols: t.cols, rows: t.rows, scrollback: t.options.scrollback ?? 1000 };
      });
      // What a full buffer holds: every line of the scrollback and the screen, at this width.
      const scrollbackBytes = (term.scrollback + term.rows) * term.cols * CELL_BYTES;
      const cdp = await page.context().newCDPSession(page);
      const heapBefore = await liveHeap(cdp);
      const agentBefore = rss(agentPid);
      // The bound: the page before, a full scrollback, and as much again for what is in flight
      // (xterm's write queue is one window, 256 KiB; the parser's and renderer's working set).
      // Unbounded, the 500,000 lines of the file would take over 600 MB in xterm alone.
      const heapBound = heapBefore + 2 * scrollbackBytes + 16 * MiB;

      let agentPeak = agentBefore;
      const agentSampler = setInterval(() => (agentPeak = Math.max(agentPeak, rss(agentPid))), 100);
      const heapSamples: number[] = [];
      let sampling = true;
      const heapSampler = (async () => {
        while (sampling) {
          heapSamples.push(await liveHeap(cdp));
          await new Promise((r) => setTimeout(r, 1000));
        }
      })();
      const t0 = performance.now();
      try {
        // The marker is computed by the shell: the typed line itself does not match it.
        await page.locator('[data-testid="terminal"] textarea').focus();
        await page.keyboard.type(`cat ${bigFile}; echo "cat-done-$((6*7))"`);
        await page.keyboard.press('Enter');
        await waitForLine(page, /^cat-done-42$/, 240_000);
      } finally {
        sampling = false;
        await heapSampler;
        clearInterval(agentSampler);
      }
      const seconds = (performance.now() - t0) / 1000;
      const heapAfter = await liveHeap(cdp);
      const heapPeak = Math.max(...heapSamples, heapAfter);
      const lines = await lastLines(page, term.rows + 2);
      console.log(
        `cat ${MB} MB in the PWA's terminal: ${seconds.toFixed(1)} s (${(MB / seconds).toFixed(1)} MB/s); ` +
          `page JS memory ${(heapBefore / MiB).toFixed(1)} MiB before, at most ${(heapPeak / MiB).toFixed(1)} MiB during (${heapSamples.length} samples), ` +
          `${(heapAfter / MiB).toFixed(1)} MiB after (bound ${(heapBound / MiB).toFixed(1)}: scrollback ${term.scrollback} lines x ${term.cols} cols = ${(scrollbackBytes / MiB).toFixed(1)} MiB); ` +
          `agent RSS ${(agentBefore / MiB).toFixed(0)} MiB before, ${(agentPeak / MiB).toFixed(0)} MiB at most`,
      );
      // The file's last lines are on the screen above the marker: the output arrived to its end.
      expect(lines.some((l) => /^y+$/.test(l))).toBe(true);
      expect(heapSamples.length).toBeGreaterThan(0);
      expect(heapPeak).toBeLessThan(heapBound);
      expect(heapAfter).toBeLessThan(heapBound);
      // The agent holds at most a window and its ring per session (256 KiB each) and a capped
      // recording; what grows beside them is its heap's ordinary churn (18-37 MiB over five runs
      // on a loaded machine, 1,200-byte packets to Chromium). An agent that buffered the output
      // would hold the file's 47.7 MiB at least once, and its sealed copy beside it (95 MiB): the
      // bound sits between, with room for a busier machine's churn.
      expect((agentPeak - agentBefore) / MiB).toBeLessThan(60);
    } catch (error) {
      await screenshot(page, 'terminal-memory-failure').catch(() => undefined);
      throw new Error(`${(error as Error).message}\n${stack.logs()}`, { cause: error });
    }
  }, 300_000);
});
