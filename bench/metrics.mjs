// Metrics sampling cost and history size: agents from the bundle (bench/flotilla-fleet.mjs)
// sampling every 1 s and every 5 s, and two with 30 days of synthesised history (60 series, and
// the 200-series maximum); per agent the CPU % of one core over --seconds (from
// /proc/<pid>/stat), RSS, and bytes written (/proc/<pid>/io wchar), measured after the first
// history save; in this process, the CPU time of
// one sample; and the history's size on disk and written per host per day. Run as root in a
// namespace with only loopback:
//   unshare -n sh -c 'ip link set lo up; node bench/metrics.mjs --seconds 60'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { tsImport } from 'tsx/esm/api';
import { FlotillaFleet } from './flotilla-fleet.mjs';
import { rssMiB, sleep } from './lib.mjs';

const { values: opts } = parseArgs({
  options: { seconds: { type: 'string', default: '60' }, port: { type: 'string', default: '9520' } },
});
const seconds = Math.min(600, Math.max(10, Number(opts.seconds)));
const { openHistory, TIERS } = await tsImport('../capabilities/metrics/history.ts', import.meta.url);
const { createSampler } = await tsImport('../capabilities/metrics/sampler.ts', import.meta.url);

const dir = mkdtempSync(join(tmpdir(), 'flotilla-metrics-bench-'));
const fleet = new FlotillaFleet({ dir, port: Number(opts.port) });
const AGENTS = [
  { label: 'sampling every 1 s', interval: 1, series: 0 },
  { label: 'sampling every 5 s', interval: 5, series: 0 },
  { label: '5 s, 30 days of 60 series', interval: 5, series: 60 },
  { label: '5 s, 30 days of 200 series', interval: 5, series: 200 },
];

/** Fills a history directory with 30 days of `count` series: 10-minute, then 1-minute, then 5-second samples. */
async function synthesise(historyDir, count) {
  const h = await openHistory(historyDir);
  const now = Date.now();
  const names = Array.from({ length: count }, (_, i) => `syn:${i}`);
  const add = (t) => h.add(t, Object.fromEntries(names.map((n, i) => [n, (i * 7 + t / 60_000) % 100])));
  for (let t = now - 30 * 86_400_000; t < now - 86_400_000; t += 600_000) add(t);
  for (let t = now - 86_400_000; t < now - 3_600_000; t += 60_000) add(t);
  for (let t = now - 3_600_000; t < now; t += 5000) add(t);
  await h.save();
}

const ticks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
/** Bytes the process passed to write() and pwrite() (its history saves, its log, its sockets). */
const written = (pid) => Number(/wchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);
const du = (path) => readdirSync(path).reduce((n, f) => n + statSync(join(path, f)).size, 0);

process.on('SIGINT', () => void fleet.stop().then(() => process.exit(130)));
try {
  // In this process: CPU time of one sample (after the first, which lists devices).
  const sampler = createSampler();
  await sampler.sample();
  const before = process.cpuUsage();
  const N = 200;
  for (let i = 0; i < N; i++) await sampler.sample();
  const used = process.cpuUsage(before);
  const perSampleMs = (used.user + used.system) / 1000 / N;
  // Counted a second later: rates need time between two readings.
  await sleep(1000);
  const series = Object.keys((await sampler.sample()).values).length;

  await fleet.start();
  for (const [i, a] of AGENTS.entries()) {
    const stateDir = join(dir, 'agents', `a${i}`);
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(
      join(stateDir, 'config.json'),
      JSON.stringify({ tags: { role: 'bench' }, allowedRoots: [fleet.remote], metrics: { intervalSeconds: a.interval } }),
    );
    if (a.series) await synthesise(join(stateDir, 'metrics'), a.series);
  }
  const startedAt = Date.now();
  await fleet.growTo(AGENTS.length);
  // After the first save (a minute after the start), which may widen the files once for the
  // host's own series: the window shows the steady state.
  await sleep(Math.max(5000, startedAt + 80_000 - Date.now()));
  const start = fleet.agents.map((a) => ({ ticks: ticks(a.pid), bytes: written(a.pid), at: Date.now() }));
  await sleep(seconds * 1000);
  const rows = fleet.agents.map((a, i) => {
    const s = start[i];
    const wall = (Date.now() - s.at) / 1000;
    const cpu = (ticks(a.pid) - s.ticks) / 100 / wall;
    const historyDir = join(dir, 'agents', `a${i}`, 'metrics');
    return {
      agent: AGENTS[i].label,
      'CPU % of a core': (100 * cpu).toFixed(2),
      'RSS MiB': rssMiB(a.pid)?.toFixed(1),
      'written KiB/min': (((written(a.pid) - s.bytes) / 1024) * (60 / wall)).toFixed(1),
      'history on disk KiB': (du(historyDir) / 1024).toFixed(0),
    };
  });
  console.log(`\nAgents from the bundle over ${seconds} s (idle: no controller connected; CPU includes the agent's own idle work):`);
  console.table(rows);
  // Per day: each minute's save writes the records that changed: 12 five-second buckets, one
  // one-minute bucket and a tenth of a ten-minute bucket, each 8 bytes + 8 per series column.
  const columns = Math.ceil(series / 16) * 16;
  const record = 8 + 8 * columns;
  const perDay = (12 + 1 + 0.1) * record * 1440;
  console.log(`\nSampling in this process: ${perSampleMs.toFixed(3)} ms of CPU per sample (${series} series on this host, ${N} samples)`);
  console.log(`  = ${((perSampleMs / 1000) * 100).toFixed(3)} % of one core at 1 s, ${((perSampleMs / 5000) * 100).toFixed(3)} % at 5 s`);
  console.log(
    `History for ${series} series (${columns} columns): ${((TIERS.reduce((n, t) => n + t.slots, 0) * record) / 1048576).toFixed(2)} MiB on disk (fixed), ` +
      `${(perDay / 1048576).toFixed(1)} MiB written per host per day (${((13.1 * record) / 1024).toFixed(1)} KiB a minute)`,
  );
  const full = 8 + 8 * 200;
  console.log(`At the 200-series maximum: ${((TIERS.reduce((n, t) => n + t.slots, 0) * full) / 1048576).toFixed(2)} MiB on disk`);
} finally {
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}
