// Jobs on the agents (issue 14): the fire-time error of a 1-second schedule, and what 100 idle
// jobs cost an agent. Real agents as child processes (the e2e harness: enrolled with a token,
// accepted by the CLI), a real signaling server with its store, and an admin device in this
// process writing the job documents through FleetSync. No controller is connected while the
// jobs run: the figures come from each agent's job journal (<state>/jobs/*.jsonl) and /proc.
//   node scripts/in-netns.mjs node --import tsx bench/jobs.mjs [--agents 5] [--seconds 60] [--idle-seconds 30]
// Fire-time error: a run's startedAt (taken just before the shell is spawned) minus its planned
// second. Idle cost: CPU (utime+stime from /proc) and VmRSS of each agent over a window with no
// job, then over the same window with 100 jobs installed whose schedule never comes (yearly).
import { parseArgs } from 'node:util';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { cli, killAll, removeDir, startAgent, startSignal, tempDir } from '../e2e/harness.ts';
import { openHome } from '../cli/src/home.ts';
import { FleetSync, deviceMember } from '../shared/store/fleet-sync.ts';
import { jobFromFile } from '../shared/jobs/job.ts';
import { parseLines } from '../agent/src/jobs/job-journal.ts';
import { median, percentile, rssMiB, sleep } from './lib.mjs';

const { values } = parseArgs({
  options: { agents: { type: 'string', default: '5' }, seconds: { type: 'string', default: '60' }, 'idle-seconds': { type: 'string', default: '30' } },
});
const n = Number(values.agents);
const seconds = Number(values.seconds);
const idleSeconds = Number(values['idle-seconds']);

/** CPU seconds (user + system) of a process. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function window(agents, ms) {
  const before = agents.map((a) => cpuSeconds(a.child.pid));
  await sleep(ms);
  return agents.map((a, i) => ({ cpuMs: (cpuSeconds(a.child.pid) - before[i]) * 1000, rss: rssMiB(a.child.pid) }));
}

const base = await tempDir('bench-jobs');
const agents = [];
let signal;
try {
  const adminHome = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  if ((await cli(adminHome, ['init', '--signal', signal.url, '--name', 'bench'])).code !== 0) throw new Error('flotilla init failed');
  const token = JSON.parse((await cli(adminHome, ['token', 'create', '--uses', String(n), '--json'])).stdout).token;
  for (let i = 0; i < n; i += 4)
    agents.push(
      ...(await Promise.all(Array.from({ length: Math.min(4, n - i) }, (_, k) => startAgent(join(base, `a${i + k}`), token, ['--tag', 'bench=jobs'])))),
    );
  if ((await cli(adminHome, ['hosts', '--json'])).code !== 0) throw new Error('flotilla hosts failed');
  const home = await openHome(adminHome);
  const accepted = (await home.hosts.all()).filter((h) => h.status === 'accepted').map((h) => ({ id: h.id, encPub: h.encPub }));
  let kept;
  const admin = new FleetSync({
    signal: signal.url,
    member: deviceMember(home.device),
    cache: { load: async () => kept, save: async (s) => void (kept = structuredClone(s)) },
    revocation: () => undefined,
    localHosts: () => accepted,
  });
  await admin.load();
  await admin.sync();
  await admin.sync();
  console.log(`${n} agents, node ${process.version}, ${new Date().toISOString()}`);

  // ---- idle cost ----
  await sleep(5000); // start-up work settles
  const none = await window(agents, idleSeconds * 1000);
  for (let i = 0; i < 100; i++)
    await admin.write(jobFromFile({ name: `idle-${i}`, command: 'true', target: 'tag:bench=jobs', schedule: '0 0 0 1 1 *' }, Date.now()), `idle-${i}`);
  await Promise.all(agents.map((a) => a.waitFor(/"event":"job-installed","job":"idle-99"/, 60_000)));
  await sleep(25_000); // the jobruns documents of the installs go out (debounced: a flush per 10 s until none is left)
  const hundred = await window(agents, idleSeconds * 1000);
  const fmt = (rows, key) => `median ${median(rows.map((r) => r[key])).toFixed(1)}, max ${Math.max(...rows.map((r) => r[key])).toFixed(1)}`;
  console.log(`idle ${idleSeconds} s, no jobs:    CPU ms ${fmt(none, 'cpuMs')}; RSS MiB ${fmt(none, 'rss')}`);
  console.log(`idle ${idleSeconds} s, 100 jobs:   CPU ms ${fmt(hundred, 'cpuMs')}; RSS MiB ${fmt(hundred, 'rss')}`);
  const drss = hundred.map((r, i) => r.rss - none[i].rss);
  console.log(`RSS difference per agent (MiB): median ${median(drss).toFixed(2)}, max ${Math.max(...drss).toFixed(2)}`);

  // ---- fire time of a 1 s schedule ----
  const tick = { name: 'tick1s', command: 'true', target: 'tag:bench=jobs', schedule: '* * * * * *', policy: { keepRuns: 10000 } };
  const started = Date.now();
  await admin.write(jobFromFile(tick, Date.now()), 'tick1s');
  await sleep(seconds * 1000);
  await admin.write({ ...jobFromFile(tick, Date.now()), deleted: true }, 'tick1s');
  await sleep(1500);
  const errors = [];
  for (let i = 0; i < n; i++) {
    const path = join(base, `a${i}`, 'jobs', 'tick1s.jsonl');
    if (!existsSync(path)) continue;
    for (const r of parseLines(readFileSync(path, 'utf8')))
      if (r.startedAt !== undefined && r.planned >= started && r.status !== 'skipped') errors.push(r.startedAt - r.planned);
  }
  console.log(
    `fire-time error of '* * * * * *' over ${errors.length} firings on ${n} agents (${seconds} s): p50 ${percentile(errors, 50)} ms, p99 ${percentile(errors, 99)} ms, max ${Math.max(...errors)} ms`,
  );
} finally {
  for (const a of agents) await a.stop();
  await signal?.stop();
  await killAll();
  await removeDir(base);
}
