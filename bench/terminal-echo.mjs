// Keystroke echo latency of the PWA terminal, browser -> agent -> browser: the page types one
// character into xterm (as a key press would: xterm's input with wasUserInput), the data channel
// carries it to the agent's pty, the shell's line editor echoes it, and the time is taken when
// xterm has parsed the echo (its cursor moved past the character). Real parts: the signaling
// server serving the built PWA, an agent from this checkout, Debian's Chromium.
//
//   npx vite build && node scripts/in-netns.mjs node --import tsx bench/terminal-echo.mjs [--keys 300] [--json]
//
// Run it in a network namespace (in-netns.mjs) so that nothing leaves the machine.
import { parseArgs } from 'node:util';
import { createFleetInUi, makeTokenInUi, startStack } from '../e2e/browser/browser-harness.ts';
import { LINE, typeAndTime } from './xterm-echo.mjs';

const { values } = parseArgs({ options: { keys: { type: 'string', default: '300' }, json: { type: 'boolean', default: false } } });
const KEYS = Math.max(20, Number(values.keys) || 300);
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

const stack = await startStack();
try {
  const { page } = stack;
  await createFleetInUi(page, stack.url);
  const { token } = await makeTokenInUi(page, 1);
  const agent = await stack.startAgent(token, 'bench-term');
  await page.locator(`tr[data-host="${agent.id}"][data-state="online"]`).waitFor({ timeout: 60_000 });
  await page.evaluate((id) => void (location.hash = `#/terminal/${id}`), agent.id);
  await page.locator('[data-testid="terminal-view"][data-status="open"]').waitFor({ timeout: 60_000 });
  // A plain prompt, and the first keys (JIT, the pty's first use) left out of the figures.
  await page.locator('[data-testid="terminal"] textarea').focus();
  await page.keyboard.type("PS1='$ '");
  await page.keyboard.press('Enter');
  await page.evaluate(typeAndTime, { count: 20, line: LINE });
  const times = await page.evaluate(typeAndTime, { count: KEYS, line: LINE });
  const sorted = [...times].sort((a, b) => a - b);
  const result = {
    keys: times.length,
    p50Ms: Number(pct(sorted, 50).toFixed(2)),
    p90Ms: Number(pct(sorted, 90).toFixed(2)),
    p99Ms: Number(pct(sorted, 99).toFixed(2)),
    maxMs: Number(sorted[sorted.length - 1].toFixed(2)),
  };
  if (values.json) console.log(JSON.stringify(result));
  else
    console.log(
      `terminal echo, browser -> agent -> browser (loopback, ${result.keys} keys): p50 ${result.p50Ms} ms, p90 ${result.p90Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms`,
    );
} finally {
  await stack.stop();
}
