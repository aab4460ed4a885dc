// Agent memory: RSS of N agents from the bundle, started from their systemd unit as on a host
// (bench/flotilla-fleet.mjs), idle after enrolling, after a handshake and a run, after
// --runs warm runs (with each agent's CPU time), and after a push; medians over the agents.
// Run it in a namespace with only loopback and as root (mount namespaces):
//   unshare -n sh -c 'ip link set lo up; node bench/agent-rss.mjs --agents 3 --push-mb 50 --runs 100'
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FlotillaFleet } from './flotilla-fleet.mjs';
import { median, rssMiB, sleep } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    agents: { type: 'string', default: '3' },
    'push-mb': { type: 'string', default: '50' },
    runs: { type: 'string', default: '0' },
    port: { type: 'string', default: '9500' },
  },
});
const dir = mkdtempSync(join(tmpdir(), 'flotilla-rss-'));
const fleet = new FlotillaFleet({ dir, port: Number(opts.port) });
const show = (label) => {
  const r = fleet.agents.map((a) => rssMiB(a.pid) ?? NaN);
  console.log(`${label}: median ${median(r).toFixed(1)} MiB [${r.map((x) => x.toFixed(1)).join(' ')}]`);
};
/** utime + stime of each agent, in seconds (/proc/<pid>/stat fields 14 and 15, 100 Hz). */
const cpu = () =>
  fleet.agents.map((a) => {
    const f = readFileSync(`/proc/${a.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  });
const must = (r, what) => {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.slice(0, 300)}`);
};
process.on('SIGINT', () => void fleet.stop().then(() => process.exit(130)));
try {
  await fleet.start();
  await fleet.growTo(Number(opts.agents));
  await sleep(5000);
  show('idle after start and enroll');
  await fleet.connect('*');
  must(await fleet.cli(['run', '*', '--', 'true']), 'run');
  await sleep(5000);
  show('after a handshake and a run');
  const runs = Number(opts.runs);
  if (runs > 0) {
    const before = cpu();
    const t0 = Date.now();
    for (let i = 0; i < runs; i++) must(await fleet.cli(['run', '*', '--', 'true']), 'run');
    const used = cpu().map((c, i) => c - (before[i] ?? 0));
    console.log(`${runs} warm runs: ${((Date.now() - t0) / 1000).toFixed(1)} s, agent CPU median ${median(used).toFixed(2)} s`);
    show(`after ${runs} warm runs`);
  }
  const mb = Number(opts['push-mb']);
  const file = join(dir, 'push.bin');
  writeFileSync(file, Buffer.alloc(mb * 1024 * 1024, 7));
  const t0 = Date.now();
  must(await fleet.cli(['push', '*', file, join(fleet.remote, 'push.bin'), '--json'], { timeoutMs: 900_000 }), 'push');
  console.log(`push ${mb} MB to ${fleet.agents.length}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await sleep(10_000);
  show(`10 s after the ${mb} MB push`);
} finally {
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}
