// Browser timing: the PWA in Debian's Chromium (playwright-core), made an admin device of the
// bench's fleet from a CLI backup (as `npm start` does), runs a command on N hosts. The time is
// taken inside the page: from the click on Run (a capturing listener) to the moment the result
// says it is no longer running (a MutationObserver), then every host's pane is checked.
// cold = the first run after a page load (the page dials every host); warm = the next runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBetween, log, treeCpu } from './lib.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * One timed run: clicks Run and returns { seconds, ok, result } where ok counts hosts with status
 * ok whose output contains `expected`.
 */
async function timedRun(page, n, expected) {
  const before = await page
    .locator('[data-testid="run-result"]')
    .getAttribute('data-task', { timeout: 500 })
    .catch(() => null);
  await page.evaluate((previous) => {
    window.__bench = { t0: null, t1: null };
    const button = document.querySelector('[data-testid="run"]');
    button.addEventListener('click', () => (window.__bench.t0 = performance.now()), { capture: true, once: true });
    const observer = new MutationObserver(() => {
      const result = document.querySelector('[data-testid="run-result"][data-running="false"]');
      if (window.__bench.t0 !== null && result && result.getAttribute('data-task') !== previous) {
        window.__bench.t1 = performance.now();
        observer.disconnect();
      }
    });
    observer.observe(document.body, { subtree: true, childList: true, attributes: true });
  }, before);
  await page.getByTestId('run').click();
  const result = page.locator(`[data-testid="run-result"][data-running="false"]${before ? `:not([data-task="${before}"])` : ''}`);
  await result.waitFor({ timeout: 120_000 });
  await page.waitForFunction(() => window.__bench.t1 !== null, null, { timeout: 10_000 });
  const { t0, t1 } = await page.evaluate(() => window.__bench);
  const panes = await result.locator('article[data-host]').all();
  let ok = 0;
  for (const pane of panes) {
    if ((await pane.getAttribute('data-status')) !== 'ok') continue;
    const text = (await pane.getByTestId('output').textContent()) ?? '';
    if (text.includes(expected)) ok++;
  }
  return { seconds: (t1 - t0) / 1000, ok: Math.min(ok, n), result };
}

/** CPU seconds of Chromium's processes (by type) and of the agent process `agentPid` so far. */
function cpuNow(agentPid) {
  const all = treeCpu(process.pid);
  if (agentPid) for (const [pid, p] of treeCpu(agentPid, /./)) all.set(pid, { ...p, type: 'agent' });
  return all;
}

/**
 * Bulk through the browser, in the page as it is (connections open): pushes `file` (a path on
 * disk, handed to the file input) to the one host of `selector` into `destDir`, then fetches
 * `fetchPath` from it. Returns { push: {seconds, ok, cpu}, fetch: {seconds, ok, bytes, cpu} },
 * cpu being CPU seconds by process type (Chromium's, and 'agent' when `agentPid` is given) from
 * the click to the result; the caller checks the pushed file on the host's disk, and the
 * fetched bytes are checked against `expectFetch`.
 */
async function bulkRuns(page, { selector, file, fileName, destDir, fetchPath, expectFetch, agentPid }) {
  await page.locator('[data-nav="run"]').click();
  await page.getByTestId('mode-push').click();
  await page.getByTestId('selector').fill(selector);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="match-count"]')?.getAttribute('data-count')) === 1, null, {
    timeout: 60_000,
    polling: 250,
  });
  await page.getByTestId('push-files').setInputFiles(file);
  await page.getByTestId('push-dest').fill(`${destDir}/`);
  const beforePush = cpuNow(agentPid);
  const push = await timedRun(page, 1, `${fileName} (`);
  const pushCpu = cpuBetween(beforePush, cpuNow(agentPid)).byType;
  await page.getByTestId('mode-fetch').click();
  await page.getByTestId('fetch-path').fill(fetchPath);
  const beforeFetch = cpuNow(agentPid);
  const fetched = await timedRun(page, 1, '');
  const fetchCpu = cpuBetween(beforeFetch, cpuNow(agentPid)).byType;
  const pane = fetched.result.locator('article[data-host]').first();
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), pane.getByTestId('download').click()]);
  const { readFileSync } = await import('node:fs');
  const got = readFileSync(await download.path());
  return {
    push: { seconds: push.seconds, ok: push.ok, cpu: pushCpu },
    fetch: { seconds: fetched.seconds, ok: fetched.ok && got.equals(expectFetch) ? 1 : 0, bytes: got.length, cpu: fetchCpu },
  };
}

/**
 * Imports the fleet backup into a fresh browser profile, waits for N hosts of `selector`, then
 * times `runs` cold runs (page reloaded before each) and `runs` warm runs. Returns
 * { cold: [{seconds, ok}], warm: [...], bulk: [{push, fetch}] }. `command` must print `expected`
 * on every host. `bulk` (optional): one host, a file pushed from disk and fetched back, `runs` times.
 */
export async function benchBrowser({ url, backup, passphrase, n, selector, command, expected, runs, bulk }) {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'flotilla-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, viewport: { width: 1280, height: 900 } });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${url}#import=${backup}`);
    await page.getByLabel('Name this device').fill('bench browser');
    await page.getByLabel('Backup passphrase', { exact: true }).fill(passphrase);
    await page.getByRole('button', { name: 'Import fleet' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: 60_000 });
    const ready = async () => {
      await page.locator('[data-nav="run"]').click();
      await page.getByTestId('selector').fill(selector);
      await page.getByTestId('command').fill(command);
      await page.waitForFunction(
        ({ want }) => Number(document.querySelector('[data-testid="match-count"]')?.getAttribute('data-count')) >= want,
        { want: n },
        { timeout: 120_000, polling: 250 },
      );
    };
    // The first load meets every host (facts, certificates): untimed, like the SSH warm-up run.
    await page.locator('[data-nav="hosts"]').click();
    await page.waitForFunction((want) => document.querySelectorAll('tr[data-host][data-state="online"]').length >= want, n, { timeout: 180_000, polling: 500 });
    await ready();
    await timedRun(page, n, expected);
    const cold = [];
    const warm = [];
    for (let k = 0; k < runs; k++) {
      await page.reload();
      await page.locator('[data-nav="run"]').waitFor({ timeout: 60_000 });
      await ready();
      cold.push(await timedRun(page, n, expected));
    }
    for (let k = 0; k < runs; k++) warm.push(await timedRun(page, n, expected));
    const bulkResults = [];
    // FLOTILLA_BENCH_PAGE_PROFILE=<file>: the page's CPU profile during the bulk runs (DevTools format).
    const profilePath = process.env.FLOTILLA_BENCH_PAGE_PROFILE;
    const cdp = profilePath && bulk ? await context.newCDPSession(page) : undefined;
    if (cdp) await cdp.send('Profiler.enable').then(() => cdp.send('Profiler.start'));
    for (let k = 0; k < (bulk?.runs ?? 0); k++) bulkResults.push(await bulkRuns(page, bulk));
    if (cdp) {
      const { profile } = await cdp.send('Profiler.stop');
      (await import('node:fs')).writeFileSync(profilePath, JSON.stringify(profile));
    }
    return { cold, warm, bulk: bulkResults };
  } catch (error) {
    log(`browser: ${error.message.split('\n')[0]}`);
    throw error;
  } finally {
    await context.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  }
}
