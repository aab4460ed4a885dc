// The dashboard's fleet health with 200 simulated hosts, in Debian's Chromium (playwright-core)
// at a phone's size (360 × 800), with and without 4× CPU throttling. The hosts and their
// answers come from the app's test hook `__flotillaHealthSim` (web/src/pages/Dashboard.svelte),
// set before the app loads: 200 online hosts (and 10 offline), each history answer synthetic
// (30 points of CPU and memory, one filesystem) after 30 ms, as a nearby agent would answer.
// Printed, per setting: the time from the click on Dashboard to all 200 rows in the page, and to
// every row in view drawn with its sparklines; how many hosts were asked (only rows near the
// viewport are); then a scripted scroll to the bottom (2 s) with its frame intervals (p50, p95,
// max) and the hosts asked by the end.
//
//   npm run build:web (or npx vite build) && node bench/dashboard.mjs [--runs 5] [--hosts 200]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median, percentile, sleep } from './lib.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '5' }, hosts: { type: 'string', default: '200' } } });
const RUNS = Number(opts.runs);
const HOSTS = Number(opts.hosts);

/** In the page, before the app: the simulated fleet. */
function simulate(n) {
  const step = 120_000;
  const calls = { n: 0 };
  const hosts = [];
  for (let i = 0; i < n; i++) hosts.push({ id: `sim${String(i).padStart(4, '0')}`, label: `host-${i}`, online: true, lastSeen: Date.now() });
  for (let i = 0; i < 10; i++) hosts.push({ id: `off${i}`, label: `gone-${i}`, online: false, lastSeen: Date.now() - (i + 1) * 3_600_000 });
  const total = 16 * 2 ** 30;
  window.__flotillaHealthSim = {
    hosts,
    calls,
    async query(id) {
      calls.n++;
      await new Promise((r) => setTimeout(r, 30));
      const k = Number(id.slice(3)) || 0;
      const now = Date.now();
      const cpu = Array.from({ length: 30 }, (_, j) => Math.max(0, Math.min(100, ((k * 37) % 90) + 10 * Math.sin((j + k) / 3))));
      const mem = Array.from({ length: 30 }, (_, j) => total * (0.3 + (0.4 * ((k * 13) % 10)) / 10 + 0.02 * Math.cos(j / 4)));
      const fsUsed = (0.2 + 0.79 * (((k * 7) % 100) / 100)) * 100 * 2 ** 30;
      const flat = (v) => Array.from({ length: 30 }, () => v);
      return {
        kind: 'history',
        interval: 5000,
        start: now - 30 * step,
        step,
        series: {
          cpu: { avg: cpu, max: cpu },
          'mem.used': { avg: mem, max: mem },
          'mem.total': { avg: flat(total), max: flat(total) },
          'fs:/:used': { avg: flat(fsUsed), max: flat(fsUsed) },
          'fs:/:size': { avg: flat(100 * 2 ** 30), max: flat(100 * 2 ** 30) },
        },
        latest: { t: now, values: { cpu: cpu[29], 'mem.used': mem[29], 'mem.total': total, 'fs:/:used': fsUsed, 'fs:/:size': 100 * 2 ** 30 }, totals: {} },
      };
    },
  };
}

/** In the page: clicks Dashboard and times the list and the rows in view being drawn. */
async function timeRender(hosts) {
  const calls0 = window.__flotillaHealthSim.calls.n;
  const t0 = performance.now();
  document.querySelector('[data-nav="dashboard"]').click();
  let listed = 0;
  for (;;) {
    await new Promise((r) => requestAnimationFrame(r));
    const rows = document.querySelectorAll('[data-testid="fleet-health"] > li');
    if (!listed && rows.length === hosts) listed = performance.now() - t0;
    if (listed) {
      const inView = [...rows].filter((r) => {
        const b = r.getBoundingClientRect();
        return b.bottom > 0 && b.top < innerHeight;
      });
      if (inView.length && inView.every((r) => r.querySelector('svg.cpu path')?.getAttribute('d'))) {
        return { listed, drawn: performance.now() - t0, asked: window.__flotillaHealthSim.calls.n - calls0 };
      }
    }
    if (performance.now() - t0 > 60_000) throw new Error('the dashboard did not draw in 60 s');
  }
}

/** In the page: scrolls to the bottom over `ms`, returning the frame intervals and the hosts asked by then. */
async function scroll(ms) {
  const calls0 = window.__flotillaHealthSim.calls.n;
  const end = document.documentElement.scrollHeight - innerHeight;
  const frames = [];
  const t0 = performance.now();
  let last = t0;
  for (;;) {
    const now = await new Promise((r) => requestAnimationFrame(r));
    frames.push(now - last);
    last = now;
    const f = Math.min(1, (now - t0) / ms);
    window.scrollTo(0, end * f);
    if (f >= 1) break;
  }
  await new Promise((r) => setTimeout(r, 1500));
  return { frames, asked: window.__flotillaHealthSim.calls.n - calls0 };
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-dash-'));
const port = 20_000 + Math.floor(Math.random() * 20_000);
const signal = spawn(
  process.execPath,
  [
    join(REPO, 'bin', 'flotilla-signal.js'),
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--stun-port',
    String(port),
    '--data-dir',
    join(dir, 'signal'),
    '--log-level',
    'warn',
  ],
  { stdio: 'ignore' },
);
const { chromium } = await import('playwright-core');
let browser;
try {
  const url = `http://127.0.0.1:${port}/`;
  for (
    let i = 0;
    i < 100 &&
    !(await fetch(url).then(
      (r) => r.ok,
      () => false,
    ));
    i++
  )
    await sleep(100);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const rows = [];
  for (const throttle of [1, 4]) {
    const context = await browser.newContext({ viewport: { width: 360, height: 800 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await context.addInitScript(simulate, HOSTS);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await page.goto(url);
    await page.getByLabel('Name this device').fill('bench');
    await page.getByRole('button', { name: 'Create fleet' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
    const listed = [];
    const drawn = [];
    let asked = 0;
    for (let r = 0; r < RUNS; r++) {
      // Away and back: the dashboard is made afresh (its per-host figures with it).
      await page.locator('[data-nav="hosts"]').click();
      await page.getByRole('heading', { name: 'Hosts' }).first().waitFor();
      const t = await page.evaluate(timeRender, HOSTS);
      listed.push(t.listed);
      drawn.push(t.drawn);
      asked = t.asked;
    }
    const s = await page.evaluate(scroll, 2000);
    rows.push({
      throttle,
      listed: median(listed),
      drawn: median(drawn),
      asked,
      p50: percentile(s.frames, 50),
      p95: percentile(s.frames, 95),
      max: Math.max(...s.frames),
      scrolledAsked: s.asked,
    });
    await context.close();
  }
  console.log(`dashboard, ${HOSTS} simulated online hosts (+10 offline), 360 × 800, median of ${RUNS} renders`);
  for (const r of rows) {
    console.log(
      `  CPU ×${r.throttle}: all rows listed ${r.listed.toFixed(0)} ms, rows in view drawn ${r.drawn.toFixed(0)} ms, hosts asked ${r.asked}; ` +
        `scroll to bottom: frames p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms, max ${r.max.toFixed(1)} ms, hosts asked while scrolling ${r.scrolledAsked}`,
    );
  }
} finally {
  await browser?.close();
  signal.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
