// `npm run bench`: Flotilla against parallel-ssh and Ansible on the same machine, every host on
// loopback. See bench/README.md for the method. Options:
//   --n 15,45            fleet sizes (default 15,45)
//   --runs 5             timed runs per scenario, tool and mode (default 5)
//   --tools flotilla,ssh,pssh,ansible   (ssh = plain ssh/scp per host in a shell loop)
//   --scenarios cmd,push21,push30k,fetch,sleep5
//   --large-scenarios cmd,push30k,fetch   scenarios for sizes above 15 (default: all of them)
//   --sim 100,500        fan-out sizes for the fleet simulator ('' to skip)
//   --sim-modes cold,warm
//   --browser-n 15       sizes timed in Chromium through Playwright ('' to skip)
//   --no-bulk            skip the bulk transfer (100 MB to one host, 10 MB to 15)
//   --no-install         never apt-get install the SSH tools
//   --no-build           use dist/flotilla-agent.mjs, the CLI bundle and dist/web as they are
//   --merge              re-take some rows: keep the other rows of results/latest.json
// The whole run happens inside a private network namespace (loopback only), entered below.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync, statSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { run, log, rssMiB, summarize, median, parseJson, percentile, sleep } from './lib.mjs';
import { FlotillaFleet } from './flotilla-fleet.mjs';
import { SshFleet } from './ssh-fleet.mjs';
import { benchBrowser } from './browser.mjs';
import { chartSvg } from './chart.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');
const RESULTS = join(HERE, 'results');
const INNER_ENV = 'FLOTILLA_BENCH_IN_NETNS';

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '15,45' },
    runs: { type: 'string', default: '5' },
    tools: { type: 'string', default: 'flotilla,ssh,pssh,ansible' },
    scenarios: { type: 'string', default: 'cmd,push21,push30k,fetch,sleep5' },
    'large-scenarios': { type: 'string' },
    sim: { type: 'string', default: '100,500' },
    'sim-modes': { type: 'string', default: 'cold,warm' },
    'browser-n': { type: 'string', default: '15' },
    'no-bulk': { type: 'boolean', default: false },
    'no-install': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    merge: { type: 'boolean', default: false },
  },
});
const SIZES = opts.n
  .split(',')
  .map(Number)
  .filter((x) => x > 0)
  .sort((a, b) => a - b);
const RUNS = Math.max(1, Number(opts.runs));
const TOOLS = new Set(opts.tools.split(','));
const SCENARIOS = opts.scenarios.split(',');
const LARGE_SCENARIOS = opts['large-scenarios'] ? opts['large-scenarios'].split(',') : SCENARIOS;
const scenariosFor = (n) => (n > 15 ? SCENARIOS.filter((s) => LARGE_SCENARIOS.includes(s)) : SCENARIOS);
const SIM = opts.sim
  .split(',')
  .map(Number)
  .filter((x) => x > 0)
  .sort((a, b) => a - b);
const BROWSER_N = new Set(
  opts['browser-n']
    .split(',')
    .map(Number)
    .filter((x) => x > 0),
);
/** How long agents stay quiet before their memory counts as idle. */
const IDLE_SETTLE_MS = 25_000;
const isRoot = process.getuid?.() === 0;

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// ---------------------------------------------------------------- outside the namespace
if (!process.env[INNER_ENV]) {
  if (!isRoot) {
    console.error('bench: needs root (a private network namespace per run, per-host mount namespaces, sshd on 127.0.0.2…).');
    process.exit(3);
  }
  const wantSsh = TOOLS.has('ssh') || TOOLS.has('pssh') || TOOLS.has('ansible');
  const missing = ['ansible', 'parallel-ssh', '/usr/sbin/sshd'].filter((c) => !have(c));
  if (wantSsh && missing.length) {
    if (opts['no-install']) {
      console.error(`bench: missing ${missing.join(', ')}; --no-install given, measuring Flotilla only`);
    } else if (!have('apt-get')) {
      console.error(`bench: missing ${missing.join(', ')} and no apt-get; measuring Flotilla only`);
    } else {
      console.error(`bench: installing ansible pssh openssh-server from Debian (missing: ${missing.join(', ')})`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      const up = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
      const inst = up.status === 0 && spawnSync('apt-get', ['install', '-y', 'ansible', 'pssh', 'openssh-server'], { stdio: 'inherit', env });
      if (!inst || inst.status !== 0) console.error('bench: apt-get failed; measuring Flotilla only');
    }
  }
  if (!opts['no-build'] && TOOLS.has('flotilla')) {
    // Agents start from the one-file bundle, as on a real host; the CLI from its bundle.
    for (const script of ['scripts/build-agent.mjs', 'scripts/build-cli.mjs']) {
      const b = spawnSync(process.execPath, [script], { stdio: 'inherit', cwd: REPO });
      if (b.status !== 0) process.exit(b.status ?? 1);
    }
    // The PWA the browser rows load (a fresh clone has no dist/web).
    if (BROWSER_N.size > 0) {
      const w = spawnSync('npx', ['vite', 'build', '--logLevel', 'warn'], { stdio: 'inherit', cwd: REPO });
      if (w.status !== 0) process.exit(w.status ?? 1);
    }
  }
  const args = process.argv
    .slice(2)
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const script = `ip link set lo up && exec '${process.execPath}' '${fileURLToPath(import.meta.url)}' ${args}`;
  const inner = spawn('unshare', ['-n', 'sh', '-c', script], { stdio: 'inherit', env: { ...process.env, [INNER_ENV]: '1' }, cwd: REPO });
  // Ctrl-C or a kill of this process stops the run inside (which cleans up and writes what it has).
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => inner.kill(signal));
  inner.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
  await new Promise(() => undefined);
}

// ---------------------------------------------------------------- inside the namespace
const work = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
const started = Date.now();
const rows = [];
const metrics = {};
const notes = [];
const connectSamples = {};
/** Every run whose rows are in the results: the first is the full run, then --merge re-takes. */
const runLog = [];

const CMD = have('ifconfig') ? 'ifconfig' : 'ip addr';
const files = {
  push21: { name: 'f21.txt', data: Buffer.from('hello, flotilla bench') }, // 21 bytes
  push30k: { name: 'f30k.bin', data: randomBytes(30 * 1024) },
};
const srcDir = join(work, 'src');
mkdirSync(srcDir, { recursive: true });
for (const f of Object.values(files)) writeFileSync(join(srcDir, f.name), f.data);
const FETCH_NAME = 'fetchme.txt';
const fetchContent = (i) => Buffer.from(`host ${i}\n${'x'.repeat(1000)}\n`);

function walk(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** Hosts whose copy of `name` is byte-exact; removes the copies for the next run. */
function checkPushed(hostDirs, name, data) {
  let ok = 0;
  for (const d of hostDirs) {
    const p = join(d, name);
    try {
      if (readFileSync(p).equals(data)) ok++;
    } catch {
      /* missing */
    }
    rmSync(p, { force: true });
  }
  return ok;
}

/** Fetched files under outDir that match a distinct host's content; clears outDir. */
function checkFetched(outDir, n) {
  const expected = new Map();
  for (let i = 0; i < n; i++) expected.set(fetchContent(i).toString(), i);
  const seen = new Set();
  for (const p of walk(outDir)) {
    const i = expected.get(readFileSync(p).toString());
    if (i !== undefined) seen.add(i);
  }
  rmSync(outDir, { recursive: true, force: true });
  return seen.size;
}

function flotillaOk(stdout, n, { exitCode = false } = {}) {
  const j = parseJson(stdout);
  const results = Array.isArray(j) ? j : j?.results;
  if (!Array.isArray(results)) return 0;
  const ok = results.filter((r) => r.status === 'ok' && (!exitCode || r.exit === 0)).length;
  return Math.min(ok, n);
}

const countMatches = (text, re) => (text.match(re) ?? []).length;

/** Times `runs` invocations of one scenario; `once` returns { code, seconds, ok } per run. */
async function measure({ scenario, n, tool, mode, once, warmup, runs = RUNS }) {
  if (warmup) await warmup();
  // The 1-minute load average around the row: other work on the machine (2 cores) skews it.
  const loadBefore = loadavg()[0];
  const times = [];
  let successes = 0;
  let failures = 0;
  for (let k = 0; k < runs; k++) {
    const r = await once(k);
    times.push(r.seconds);
    successes += r.ok;
    if (r.ok < n) {
      failures++;
      if (failures === 1) log(`  ${tool} ${mode} ${scenario}: run ${k} ok on ${r.ok}/${n} (exit ${r.code})${r.detail ? `: ${r.detail.slice(0, 400)}` : ''}`);
      notes.push(`${tool} ${mode} ${scenario} N=${n}, run ${k}: ${r.ok}/${n} ok (exit ${r.code})${r.detail ? `: ${r.detail.slice(0, 2000)}` : ''}`);
    }
  }
  const row = {
    scenario,
    n,
    tool,
    mode,
    ...summarize(times),
    successes,
    attempts: runs * n,
    runs,
    times,
    load: Math.round(Math.max(loadBefore, loadavg()[0]) * 100) / 100,
  };
  rows.push(row);
  log(
    `  ${tool.padEnd(8)} ${mode.padEnd(4)} ${scenario.padEnd(8)} N=${n}: median ${row.median.toFixed(3)} s (${row.min.toFixed(3)}–${row.max.toFixed(3)}), ok ${successes}/${runs * n}`,
  );
  return row;
}

// ------------------------------------------------ Flotilla
function flotillaDetail(r) {
  const j = parseJson(r.stdout);
  const results = Array.isArray(j) ? j : j?.results;
  if (!Array.isArray(results)) return `${r.stderr}${r.stdout}`.trim();
  // Cold runs use -v: for a host that failed, the last connection step it reached
  // (`[rtc-phase] {"remoteId":…,"phase":…,"ms":…}`), which says where a dial got stuck.
  const phases = new Map();
  for (const line of r.stderr.split('\n')) {
    if (!line.startsWith('[rtc-phase] ')) continue;
    const p = parseJson(line.slice('[rtc-phase] '.length));
    if (p?.remoteId) phases.set(p.remoteId.slice(0, 6), `${p.phase} at ${p.ms} ms`);
  }
  return JSON.stringify(
    results
      .filter((x) => x.status !== 'ok')
      .map((x) => ({ host: x.hostname, status: x.status, error: x.error, lastStep: phases.get(String(x.hostname).split('@').pop()) ?? 'none (no answer)' })),
  );
}

/** The Troop scenarios through the CLI; `extra` is ['--no-persist'] for cold runs. */
function flotillaScenarios(fleet, n, dirs, extra) {
  const sel = 'tag:role=bench';
  const forks = ['--forks', String(Math.max(32, n)), ...extra];
  const out = join(work, 'flotilla-out');
  const push = async (f) => {
    const r = await fleet.cli(['push', sel, join(srcDir, f.name), join(fleet.remote, f.name), '--json', ...forks]);
    const onDisk = checkPushed(dirs, f.name, f.data);
    return { ...r, ok: Math.min(onDisk, flotillaOk(r.stdout, n)), detail: flotillaDetail(r) };
  };
  return {
    cmd: async () => {
      const r = await fleet.cli(['run', sel, '--json', ...forks, '--', ...CMD.split(' ')]);
      return { ...r, ok: flotillaOk(r.stdout, n, { exitCode: true }), detail: flotillaDetail(r) };
    },
    push21: () => push(files.push21),
    push30k: () => push(files.push30k),
    fetch: async () => {
      const r = await fleet.cli(['fetch', sel, join(fleet.remote, FETCH_NAME), out, '--json', ...forks]);
      const got = checkFetched(out, n);
      return { ...r, ok: Math.min(got, flotillaOk(r.stdout, n)), detail: flotillaDetail(r) };
    },
    sleep5: async () => {
      const r = await fleet.cli(['run', sel, '--json', ...forks, '--', 'sleep', '5']);
      return { ...r, ok: flotillaOk(r.stdout, n, { exitCode: true }), detail: flotillaDetail(r) };
    },
  };
}

/**
 * The warm `cmd` row taken apart: the same invocation sent straight to the control process's
 * socket, without a CLI process. The row's wall time minus this is the CLI's start-up (`node`
 * itself is in the start-up figures); this is the fleet's part.
 */
async function warmInside(fleet, n) {
  const argv = ['run', 'tag:role=bench', '--json', '--forks', String(Math.max(32, n)), '--', ...CMD.split(' ')];
  const ms = [];
  const failures = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await fleet.invokeControl(argv).catch((error) => ({ error }));
    if (r.code === 0) ms.push(r.ms);
    else failures.push(r.error ? String(r.error.message) : `exit ${r.code}`);
  }
  // The bench speaks the control protocol itself (cli/src/control/protocol.ts): say when it no longer does.
  if (failures.length) notes.push(`warm cmd inside the control process, N=${n}: ${failures.length} of ${RUNS} invocations failed (${failures[0]})`);
  if (ms.length)
    metrics[`warm cmd, N=${n}, inside the control process (request to exit, no CLI start-up; median / min ms, ${ms.length} runs)`] =
      `${median(ms).toFixed(0)} / ${Math.min(...ms).toFixed(0)}`;
}

/** Connect time per host, dial to authenticated session, sequentially (bench/probe-connect.mjs). */
async function connectTimes(fleet, n) {
  const r = await run(process.execPath, ['--import', 'tsx', join(HERE, 'probe-connect.mjs'), '--tag', 'role=bench', '--rounds', String(RUNS)], {
    env: fleet.env,
    cwd: REPO,
    timeoutMs: 600_000,
  });
  const j = parseJson(r.stdout.trim().split('\n').pop() ?? '');
  if (!j?.samplesMs?.length) {
    notes.push(`connect-time probe failed for N=${n}: ${r.stderr.slice(0, 300)}`);
    return;
  }
  const ms = j.samplesMs;
  metrics[`connect time, dial to authenticated session, N=${n} (median / p95 / max ms, ${ms.length} dials, ${j.failures} failed)`] =
    `${median(ms).toFixed(0)} / ${percentile(ms, 95).toFixed(0)} / ${Math.max(...ms).toFixed(0)}`;
  connectSamples[n] = ms;
}

/** Bulk pushes through the warm control process: 100 MB to one host, 10 MB to 15 hosts. */
async function benchBulk(fleet, dirs) {
  const runs = Math.min(RUNS, 3);
  const cases = [
    { scenario: 'bulk100M', sel: 'one-of(tag:role=bench)', size: 100 * 1024 * 1024, hosts: 1 },
    { scenario: 'bulk10Mx15', sel: 'tag:role=bench', size: 10 * 1024 * 1024, hosts: 15 },
  ];
  for (const c of cases) {
    if (dirs.length < c.hosts || (c.hosts > 1 && dirs.length !== c.hosts)) continue;
    const name = `${c.scenario}.bin`;
    const data = randomBytes(c.size);
    writeFileSync(join(srcDir, name), data);
    const row = await measure({
      scenario: c.scenario,
      n: c.hosts,
      tool: 'flotilla',
      mode: 'warm',
      runs,
      once: async () => {
        const r = await fleet.cli(['push', c.sel, join(srcDir, name), join(fleet.remote, name), '--json', '--forks', '32'], { timeoutMs: 900_000 });
        const onDisk = checkPushed(dirs, name, data);
        return { ...r, ok: Math.min(onDisk, flotillaOk(r.stdout, c.hosts)), detail: flotillaDetail(r) };
      },
    });
    const mbps = (s) => (c.size * c.hosts) / 1e6 / s;
    metrics[`bulk push ${c.size / 1048576} MiB to ${c.hosts} host(s), warm (median / best MB/s, ${runs} runs)`] =
      `${mbps(row.median).toFixed(1)} / ${mbps(row.min).toFixed(1)}`;
    rmSync(join(srcDir, name), { force: true });
  }
}

async function benchFlotilla(fleet, n) {
  const dirs = fleet.agents.slice(0, n).map((a) => a.hostDir);
  for (let i = 0; i < dirs.length; i++) writeFileSync(join(dirs[i], FETCH_NAME), fetchContent(i));
  const cold = flotillaScenarios(fleet, n, dirs, ['--no-persist', '-v']);
  for (const s of scenariosFor(n)) {
    if (cold[s]) await measure({ scenario: s, n, tool: 'flotilla', mode: 'cold', once: cold[s] });
  }
  await connectTimes(fleet, n);
  // Warm: the control process dials every host once (untimed, like ControlPersist's first run).
  const t0 = Date.now();
  const warmup = await fleet.connect('tag:role=bench');
  const up = Array.isArray(warmup) ? warmup.filter((h) => h.status === 'ok').length : 0;
  log(`control process up, ${up}/${n} hosts connected (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const warm = flotillaScenarios(fleet, n, dirs, []);
  for (const s of scenariosFor(n)) {
    if (warm[s]) await measure({ scenario: s, n, tool: 'flotilla', mode: 'warm', once: warm[s] });
  }
  await warmInside(fleet, n);
  if (!opts['no-bulk'] && (n === 15 || (n === SIZES[0] && n < 15))) await benchBulk(fleet, dirs);
  await fleet.disconnect();
}

/** The PWA in Chromium on the same fleet (imported from a CLI backup): click to last result. */
async function benchBrowserRows(fleet, n) {
  if (!existsSync('/usr/bin/chromium') && !process.env.CHROMIUM_PATH) return notes.push('Chromium not installed: no browser rows.');
  if (!existsSync(join(REPO, 'dist/web/index.html'))) return notes.push('dist/web missing (npm run build:web): no browser rows.');
  // Chromium gathers ICE candidates erratically when loopback is its only interface, so the
  // browser phase gets a veth pair that leads nowhere (as scripts/in-netns.mjs does). Only this
  // phase: with the extra candidates, werift-to-werift dials failed ICE now and then (1 in 120
  // on 15 agents under load, none without).
  const veth =
    'ip link add fl-lan0 type veth peer name fl-lan1 && ip addr add 10.213.0.1/24 dev fl-lan0 && ip addr add 10.213.0.2/24 dev fl-lan1 && ip link set fl-lan0 up && ip link set fl-lan1 up';
  if (spawnSync('sh', ['-c', veth], { stdio: 'inherit' }).status !== 0) return notes.push('could not add the veth pair: no browser rows.');
  try {
    await browserPhase(fleet, n);
  } finally {
    spawnSync('ip', ['link', 'del', 'fl-lan0'], { stdio: 'inherit' });
  }
}

async function browserPhase(fleet, n) {
  const passphraseFile = join(work, 'passphrase');
  writeFileSync(passphraseFile, 'bench passphrase, loopback only\n', { mode: 0o600 });
  const exported = await fleet.cli(['fleet', 'export', '--passphrase-file', passphraseFile]);
  if (exported.code !== 0) return notes.push(`fleet export failed: ${exported.stderr.slice(0, 200)}`);
  // Bulk both ways between the browser and one agent: a 50 MiB file pushed from disk, then
  // fetched back from that host's disk and compared (so the push is checked byte-exact too).
  const bulkName = 'browser-bulk.bin';
  const bulkData = randomBytes(50 * 1024 * 1024);
  writeFileSync(join(srcDir, bulkName), bulkData);
  const oneHost = (parseJson((await fleet.cli(['hosts', '--json'])).stdout) ?? []).find((h) => h.status === 'online')?.id;
  // The agent's pid, for its CPU time during the bulk runs: the parent of the shell it runs.
  const agentPid = oneHost
    ? Number(/agentpid=(\d+)/.exec((await fleet.cli(['run', oneHost, '--', 'echo agentpid=$PPID'])).stdout)?.[1]) || undefined
    : undefined;
  const bulk =
    opts['no-bulk'] || !oneHost
      ? undefined
      : {
          runs: Math.min(RUNS, 3),
          selector: oneHost,
          file: join(srcDir, bulkName),
          fileName: bulkName,
          destDir: join(fleet.remote, 'bbulk'),
          fetchPath: join(fleet.remote, 'bbulk', bulkName),
          expectFetch: bulkData,
          agentPid,
        };
  try {
    const result = await benchBrowser({
      url: fleet.url,
      backup: exported.stdout.trim(),
      passphrase: 'bench passphrase, loopback only',
      n,
      selector: 'tag:role=bench',
      command: 'echo browser-ok',
      expected: 'browser-ok',
      runs: RUNS,
      bulk,
    });
    rmSync(join(srcDir, bulkName), { force: true });
    for (const dir of ['push', 'fetch']) {
      if (!result.bulk.length) break;
      const times = result.bulk.map((r) => r[dir].seconds);
      const successes = result.bulk.reduce((a, r) => a + r[dir].ok, 0);
      const row = {
        scenario: `bulk50M-${dir}`,
        n: 1,
        tool: 'browser',
        mode: 'warm',
        ...summarize(times),
        successes,
        attempts: result.bulk.length,
        runs: result.bulk.length,
        times,
        load: Math.round(loadavg()[0] * 100) / 100,
      };
      rows.push(row);
      const mbps = (sec) => bulkData.length / 1e6 / sec;
      metrics[`bulk ${dir} 50 MiB, browser <-> one agent (median / best MB/s, ${result.bulk.length} runs)`] =
        `${mbps(row.median).toFixed(1)} / ${mbps(row.min).toFixed(1)}`;
      log(`  browser  warm bulk50M-${dir}: median ${row.median.toFixed(3)} s (${mbps(row.median).toFixed(1)} MB/s), ok ${successes}/${result.bulk.length}`);
      // Where the CPU went, per MB moved: the agent, and Chromium by process (renderer: page and
      // WebRTC; network: its sockets; browser: file reads and IPC). Set against the floor below.
      const perMB = (type) => median(result.bulk.map((r) => ((r[dir].cpu[type] ?? 0) * 1000) / (bulkData.length / 1e6)));
      const types = [...new Set(result.bulk.flatMap((r) => Object.keys(r[dir].cpu)))].filter((t) => t !== 'agent');
      const chromium = median(result.bulk.map((r) => (types.reduce((a, t) => a + (r[dir].cpu[t] ?? 0), 0) * 1000) / (bulkData.length / 1e6)));
      metrics[`bulk ${dir}, browser <-> one agent: CPU ms per MB (median of ${result.bulk.length})`] =
        `agent ${agentPid ? perMB('agent').toFixed(0) : '?'}, Chromium ${chromium.toFixed(0)} (${types.map((t) => `${t} ${perMB(t).toFixed(0)}`).join(', ')})`;
    }
    for (const mode of ['cold', 'warm']) {
      const times = result[mode].map((r) => r.seconds);
      const successes = result[mode].reduce((a, r) => a + r.ok, 0);
      const row = {
        scenario: 'cmd',
        n,
        tool: 'browser',
        mode,
        ...summarize(times),
        successes,
        attempts: RUNS * n,
        runs: RUNS,
        times,
        load: Math.round(loadavg()[0] * 100) / 100,
      };
      rows.push(row);
      log(`  browser  ${mode} cmd      N=${n}: median ${row.median.toFixed(3)} s (${row.min.toFixed(3)}–${row.max.toFixed(3)}), ok ${successes}/${RUNS * n}`);
    }
  } catch (error) {
    notes.push(`browser timing failed for N=${n}: ${error.message.split('\n')[0]}`);
  }
  if (!opts['no-bulk']) await chromiumFloor();
}

/**
 * Chromium's own data channel, one page to itself, none of Flotilla's code (chromium-channel.mjs):
 * what Chromium's WebRTC alone moves on this machine and what it costs per MB.
 */
async function chromiumFloor() {
  const r = await run(process.execPath, [join(HERE, 'chromium-channel.mjs'), '--netns', '--json', '--mb', '100', '--runs', '3'], { timeoutMs: 300_000 });
  const j = parseJson(r.stdout.trim().split('\n').pop() ?? '');
  if (r.code !== 0 || !j) return notes.push(`Chromium's own data channel not measured: ${`${r.stderr}${r.stdout}`.trim().split('\n').pop()}`);
  const byType = Object.keys(j.runs[0].byType)
    .map((t) => `${t} ${median(j.runs.map((x) => x.byType[t] ?? 0)).toFixed(0)}`)
    .join(', ');
  metrics[`Chromium's data channel alone, page to itself, 100 MiB (median MB/s; CPU ms per MB for both ends, ${j.runs.length} runs)`] =
    `${j.medianMBps.toFixed(1)} MB/s; ${j.medianCpuMsPerMB.toFixed(0)} (${byType})`;
  log(`  chromium data channel alone: ${j.medianMBps.toFixed(1)} MB/s, ${j.medianCpuMsPerMB.toFixed(0)} CPU ms per MB (both ends)`);
}

/** Fan-out on the fleet simulator: `echo ok` on 100 and 500 agents living in one process. */
async function benchSim(fleet) {
  const max = SIM[SIM.length - 1];
  const t0 = Date.now();
  const ready = await fleet.startSim(max);
  log(`simulator: ${ready.agents} agents registered in ${ready.startup}`);
  await fleet.waitOnline(fleet.agents.length + max, { timeoutMs: 900_000 });
  log(`simulator: ${max} agents online and accepted (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  metrics[`fleet simulator: ${max} agents in one process, RSS (MiB)`] = (rssMiB(fleet.sim.pid) ?? NaN).toFixed(0);
  metrics[`signaling server RSS with ${fleet.agents.length + max} agents (MiB)`] = (rssMiB(fleet.signal.pid) ?? NaN).toFixed(1);
  for (const n of SIM) {
    // Agent i carries the tag hundred=floor(i/100): the first n agents are hundreds 0…n/100-1.
    const sel = n === max ? 'tag:role=sim' : `tag:role=sim and (${Array.from({ length: Math.ceil(n / 100) }, (_, k) => `tag:hundred=${k}`).join(' or ')})`;
    const once = (extra) => async () => {
      // Bounded: a cold run that stalls counts as failed on every host it had not answered.
      const r = await fleet.cli(['run', sel, '--json', '--forks', '100', ...extra, '--', 'echo', 'ok'], { timeoutMs: 150_000 });
      const j = parseJson(r.stdout);
      const ok = Array.isArray(j?.results) ? j.results.filter((x) => x.status === 'ok' && x.exit === 0 && x.stdout === 'ok\n').length : 0;
      return { ...r, ok: Math.min(ok, n), detail: flotillaDetail(r) };
    };
    const modes = opts['sim-modes'].split(',');
    if (modes.includes('cold')) await measure({ scenario: 'fanout', n, tool: 'flotilla', mode: 'cold', once: once(['--no-persist']) });
    if (!modes.includes('warm')) continue;
    // Dials beyond the signaling server's message limit fail; connect again until all are open.
    for (let k = 0, up = 0; k < 4 && up < n; k++) {
      const hosts = await fleet.connect(sel);
      up = hosts.filter((h) => h.status === 'ok').length;
      log(`control process: ${up}/${n} simulated agents connected`);
    }
    await measure({ scenario: 'fanout', n, tool: 'flotilla', mode: 'warm', once: once([]) });
    await fleet.disconnect();
  }
  metrics[`fleet simulator RSS after work (MiB)`] = (rssMiB(fleet.sim.pid) ?? NaN).toFixed(0);
  await fleet.stopSim();
}

/** CLI start-up, tsx against the bundle (hyperfine when installed, else a loop of 10). */
async function startupTimes(fleet) {
  const variants = [
    ['node -e 0', [process.execPath, '-e', '0'], {}],
    ['flotilla device show, tsx', [process.execPath, join(REPO, 'bin/flotilla.js'), 'device', 'show'], { FLOTILLA_NO_BUNDLE: '1', FLOTILLA_BUNDLE: '' }],
    ['flotilla device show, bundle', [process.execPath, join(REPO, 'bin/flotilla.js'), 'device', 'show'], { FLOTILLA_BUNDLE: '1' }],
  ];
  for (const [label, argv, extra] of variants) {
    let seconds = [];
    if (have('hyperfine')) {
      const out = join(work, 'hyperfine.json');
      const env = { ...fleet.env, ...extra };
      const r = await run('hyperfine', ['-N', '--warmup', '2', '--runs', '15', '--export-json', out, argv.map((a) => `'${a}'`).join(' ')], {
        env,
        timeoutMs: 300_000,
      });
      seconds = r.code === 0 ? (parseJson(readFileSync(out, 'utf8'))?.results?.[0]?.times ?? []) : [];
    } else {
      for (let k = 0; k < 10; k++) seconds.push((await run(argv[0], argv.slice(1), { env: { ...fleet.env, ...extra } })).seconds);
    }
    if (seconds.length)
      metrics[`start-up: ${label} (median / min ms${have('hyperfine') ? ', hyperfine -N' : ''})`] =
        `${(median(seconds) * 1000).toFixed(0)} / ${(Math.min(...seconds) * 1000).toFixed(0)}`;
  }
}

// ------------------------------------------------ parallel-ssh
async function benchPssh(ssh, n) {
  const dirs = ssh.hosts.map((h) => h.hostDir);
  const out = join(work, 'pssh-out');
  for (const mode of ['cold', 'warm']) {
    const x = ['-x', ssh.sshArgs(mode).join(' ')];
    const common = ['-h', ssh.hostsFile, '-l', 'root', '-p', String(n), '-t', '120', ...x];
    const succ = (r) => countMatches(r.stdout, /\[SUCCESS\]/g);
    const scen = {
      cmd: async () => {
        const r = await run('parallel-ssh', [...common, CMD]);
        return { ...r, ok: succ(r), detail: r.stdout + r.stderr };
      },
      push21: async () => {
        const r = await run('parallel-scp', [...common, join(srcDir, files.push21.name), join(ssh.remote, files.push21.name)]);
        const onDisk = checkPushed(dirs, files.push21.name, files.push21.data);
        return { ...r, ok: Math.min(onDisk, succ(r)), detail: r.stdout + r.stderr };
      },
      push30k: async () => {
        const r = await run('parallel-scp', [...common, join(srcDir, files.push30k.name), join(ssh.remote, files.push30k.name)]);
        const onDisk = checkPushed(dirs, files.push30k.name, files.push30k.data);
        return { ...r, ok: Math.min(onDisk, succ(r)), detail: r.stdout + r.stderr };
      },
      fetch: async () => {
        mkdirSync(out, { recursive: true });
        const r = await run('parallel-slurp', [...common, '-L', out, join(ssh.remote, FETCH_NAME), FETCH_NAME]);
        const got = checkFetched(out, n);
        return { ...r, ok: Math.min(got, succ(r)), detail: r.stdout + r.stderr };
      },
      sleep5: async () => {
        const r = await run('parallel-ssh', [...common, 'sleep 5']);
        return { ...r, ok: succ(r), detail: r.stdout + r.stderr };
      },
    };
    // Warm: open the master connections first (an untimed run), as ControlPersist users would.
    const warmup = mode === 'warm' ? () => run('parallel-ssh', [...common, 'true']) : undefined;
    for (const s of scenariosFor(n)) {
      if (scen[s]) await measure({ scenario: s, n, tool: 'pssh', mode, once: scen[s], warmup });
    }
  }
}

// ------------------------------------------------ plain ssh in a shell loop
// The floor of SSH itself: one `ssh` (or `scp`) per host started by sh in the background, then
// `wait`; no tool in between (parallel-ssh adds a Python start and its own polling loop).
async function benchSshLoop(ssh, n) {
  const dirs = ssh.hosts.map((h) => h.hostDir);
  const q = (x) => `'${String(x).replace(/'/g, `'\\''`)}'`;
  for (const mode of ['cold', 'warm']) {
    const opts = ssh.sshArgs(mode).map(q).join(' ');
    const addrs = ssh.hosts.map((h) => h.addr).join(' ');
    // Each host that succeeds prints one line "ok"; every ssh's output goes to its own file.
    const loop = (per) => run('sh', ['-c', `for h in ${addrs}; do (${per} && echo ok) & done; wait`]);
    const oks = (r) => countMatches(r.stdout, /^ok$/gm);
    const scen = {
      cmd: async () => {
        const r = await loop(`ssh ${opts} root@$h ${q(CMD)} >/dev/null 2>&1`);
        return { ...r, ok: oks(r), detail: r.stderr };
      },
      push21: async () => {
        const r = await loop(`scp -q ${opts} ${q(join(srcDir, files.push21.name))} root@$h:${q(join(ssh.remote, files.push21.name))} 2>/dev/null`);
        return { ...r, ok: Math.min(oks(r), checkPushed(dirs, files.push21.name, files.push21.data)), detail: r.stderr };
      },
      sleep5: async () => {
        const r = await loop(`ssh ${opts} root@$h 'sleep 5' >/dev/null 2>&1`);
        return { ...r, ok: oks(r), detail: r.stderr };
      },
    };
    const warmup = mode === 'warm' ? () => loop(`ssh ${opts} root@$h true`) : undefined;
    for (const sc of scenariosFor(n)) {
      if (scen[sc]) await measure({ scenario: sc, n, tool: 'ssh', mode, once: scen[sc], warmup });
    }
  }
}

// ------------------------------------------------ Ansible
async function benchAnsible(ssh, n) {
  const dirs = ssh.hosts.map((h) => h.hostDir);
  const out = join(work, 'ansible-out');
  for (const mode of ['cold', 'warm']) {
    const env = ssh.ansibleEnv(mode);
    const adhoc = (module, args) =>
      run('ansible', ['bench', '-i', ssh.inventory, '-f', String(n), '-m', module, '-a', args], { env, cwd: ssh.sshDir, timeoutMs: 300_000 });
    const succ = (r) => countMatches(r.stdout, /^\S+ \| (CHANGED|SUCCESS)/gm);
    const scen = {
      cmd: async () => {
        const r = await adhoc('command', CMD);
        return { ...r, ok: succ(r), detail: r.stdout + r.stderr };
      },
      push21: async () => {
        const r = await adhoc('copy', `src=${join(srcDir, files.push21.name)} dest=${join(ssh.remote, files.push21.name)}`);
        const onDisk = checkPushed(dirs, files.push21.name, files.push21.data);
        return { ...r, ok: Math.min(onDisk, succ(r)), detail: r.stdout + r.stderr };
      },
      push30k: async () => {
        const r = await adhoc('copy', `src=${join(srcDir, files.push30k.name)} dest=${join(ssh.remote, files.push30k.name)}`);
        const onDisk = checkPushed(dirs, files.push30k.name, files.push30k.data);
        return { ...r, ok: Math.min(onDisk, succ(r)), detail: r.stdout + r.stderr };
      },
      fetch: async () => {
        const r = await adhoc('fetch', `src=${join(ssh.remote, FETCH_NAME)} dest=${out}/`);
        const got = checkFetched(out, n);
        return { ...r, ok: Math.min(got, succ(r)), detail: r.stdout + r.stderr };
      },
      sleep5: async () => {
        const r = await adhoc('command', 'sleep 5');
        return { ...r, ok: succ(r), detail: r.stdout + r.stderr };
      },
    };
    const warmup = mode === 'warm' ? () => adhoc('command', 'true') : undefined;
    for (const s of scenariosFor(n)) {
      if (scen[s]) await measure({ scenario: s, n, tool: 'ansible', mode, once: scen[s], warmup });
    }
  }
}

// ------------------------------------------------ output
function version(cmd, args, re) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0 && !r.stdout) return null;
  const m = re.exec(`${r.stdout}${r.stderr}`);
  return m ? m[1] : null;
}

function fmt(x) {
  return x === null || x === undefined ? '' : x.toFixed(3);
}

function table(rowsToShow) {
  const head = ['scenario', 'N', 'tool', 'mode', 'median s', 'min–max s', 'ok', 'load'];
  const body = rowsToShow.map((r) =>
    r.note
      ? [r.scenario, String(r.n), r.tool, r.mode, r.note, '', '', '']
      : [
          r.scenario,
          String(r.n),
          r.tool,
          r.mode,
          fmt(r.median),
          `${fmt(r.min)}–${fmt(r.max)}`,
          `${r.successes}/${r.attempts}`,
          r.load === undefined ? '' : r.load.toFixed(1),
        ],
  );
  return { head, body };
}

/** One line per scenario and N, one column per tool and mode (Markdown). */
function pivot(all) {
  const cols = [
    ['flotilla', 'warm'],
    ['flotilla', 'cold'],
    ['browser', 'warm'],
    ['browser', 'cold'],
    ['ssh', 'warm'],
    ['ssh', 'cold'],
    ['pssh', 'warm'],
    ['pssh', 'cold'],
    ['ansible', 'warm'],
    ['ansible', 'cold'],
  ].filter(([t, m]) => all.some((r) => r.tool === t && r.mode === m && r.median !== null));
  const keys = [];
  for (const r of all) if (!keys.some((k) => k.scenario === r.scenario && k.n === r.n)) keys.push({ scenario: r.scenario, n: r.n });
  const cell = (k, t, m) => {
    const r = all.find((x) => x.scenario === k.scenario && x.n === k.n && x.tool === t && x.mode === m && x.median !== null);
    if (!r) return '';
    const flag = r.successes < r.attempts ? ` (${r.successes}/${r.attempts} ok)` : '';
    return `${r.median < 1 ? r.median.toFixed(3) : r.median.toFixed(2)}${flag}`;
  };
  return [
    `| scenario | N | ${cols.map(([t, m]) => `${t} ${m}`).join(' | ')} |`,
    `|---|---|${cols.map(() => '---').join('|')}|`,
    ...keys.map((k) => `| ${k.scenario} | ${k.n} | ${cols.map(([t, m]) => cell(k, t, m)).join(' | ')} |`),
  ];
}

/**
 * --merge: rows of the previous latest.json that this run did not re-take are kept (with the
 * date they were taken); re-taken rows replace theirs in place.
 */
function mergePrevious(date) {
  const key = (r) => `${r.scenario}|${r.n}|${r.tool}|${r.mode}`;
  for (const r of rows) r.taken ??= date;
  let prev;
  try {
    prev = JSON.parse(readFileSync(join(RESULTS, 'latest.json'), 'utf8'));
  } catch {
    return;
  }
  const fresh = new Map(rows.map((r) => [key(r), r]));
  const prevTimes = new Map((prev.times ?? []).map((t) => [key(t), t.seconds]));
  const merged = (prev.results ?? []).map((r) => fresh.get(key(r)) ?? { ...r, times: prevTimes.get(key(r)), taken: r.taken ?? prev.date });
  for (const r of rows) if (!merged.includes(r)) merged.push(r);
  const retaken = rows.length;
  rows.splice(0, rows.length, ...merged);
  Object.assign(metrics, { ...prev.metrics, ...metrics });
  Object.assign(connectSamples, { ...prev.connectSamplesMs, ...connectSamples });
  runLog.unshift(...(prev.runLog ?? [{ date: prev.date, args: '(not recorded)' }]));
  // Interruptions of earlier runs are history: their rows were completed or re-taken since.
  const keep = (n) => !/^(merged:|run interrupted|run aborted)/.test(n);
  notes.unshift(
    ...(prev.notes ?? []).filter(keep),
    `merged: ${retaken} row(s) re-taken at ${date}; the others are from earlier runs (each row's \`taken\` in latest.json).`,
  );
}

function writeResults() {
  const date = new Date().toISOString();
  runLog.push({
    date,
    args: process.argv
      .slice(2)
      .map((a) => (a === '' ? "''" : a))
      .join(' '),
  });
  if (opts.merge) mergePrevious(date);
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? null,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: version('uname', ['-r'], /(\S+)/),
  };
  const versions = {
    node: process.version,
    flotilla: JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version,
    werift: (() => {
      try {
        return JSON.parse(readFileSync(join(REPO, 'node_modules/werift/package.json'), 'utf8')).version;
      } catch {
        return null;
      }
    })(),
    ansible: have('ansible') ? version('ansible', ['--version'], /core ([\d.]+)/) : null,
    pssh: have('parallel-ssh') ? version('dpkg-query', ['-W', '-f=${Version}', 'pssh'], /(\S+)/) : null,
    openssh: have('ssh') ? version('ssh', ['-V'], /OpenSSH_([^\s,]+)/) : null,
  };
  const durationS = Math.round((Date.now() - started) / 1000);
  const result = {
    date,
    machine,
    versions,
    durationS,
    runs: RUNS,
    command: CMD,
    method:
      'Wall time of one CLI process per run, measured from outside (cold: --no-persist, it registers, dials and handshakes; warm: it forwards to the control process holding open connections); browser: in-page time from the click on Run to the result; every host on loopback in a private network namespace; each host has its own directory (a bind mount in its own mount namespace); success = exit status 0 and every host ok, pushed files byte-exact on disk, fetched files byte-exact, echoed output exact.',
    results: rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'times'))),
    times: rows.filter((r) => r.times).map((r) => ({ scenario: r.scenario, n: r.n, tool: r.tool, mode: r.mode, seconds: r.times })),
    metrics,
    notes,
    connectSamplesMs: connectSamples,
    runLog,
  };
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);

  const { head, body } = table(rows);
  const summary = pivot(rows);
  writeFileSync(
    join(RESULTS, 'latest.svg'),
    chartSvg(rows, {
      title: 'Flotilla vs parallel-ssh vs Ansible, hosts on loopback',
      subtitle: `${date} · ${machine.nproc} cores · medians of ${RUNS} runs · every host checked`,
    }),
  );
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const md = [
    '# Flotilla benchmark',
    '',
    `Load average at the end: ${load}; the \`load\` column is the highest 1-minute load average seen at the start or end of each row (2 cores: the bench's own hosts count too, and other work on the machine skews every figure).`,
    '',
    `${date} · ${machine.nproc} cores (${machine.cpu}) · ${machine.memoryGiB} GiB · Linux ${machine.kernel}`,
    `Node ${versions.node} · Flotilla ${versions.flotilla} (werift ${versions.werift}) · Ansible ${versions.ansible ?? 'not installed'} · pssh ${versions.pssh ?? 'not installed'} · OpenSSH ${versions.openssh ?? '-'}`,
    '',
    `Medians of ${RUNS} runs, seconds. \`cmd\` = \`${CMD}\` (browser: \`echo\`); push21/push30k = a 21-byte / 30 KiB file; fetch = one file back from every host; sleep5 = \`sleep 5\` on every host; fanout = \`echo ok\` on agents of the fleet simulator (all in one process), \`--forks 100\`; bulk = one push of 100 MiB to one host / 10 MiB to 15 hosts.`,
    'cold = a new controller process per run (Flotilla: `--no-persist`, so it registers, dials and handshakes; browser: first run after a page load); warm = connections already open (Flotilla: `flotilla connect` control process; SSH ControlPersist; Ansible also with pipelining; browser: later runs in the same page). `ok` = hosts that succeeded over all runs.',
    '',
    '![chart](latest.svg)',
    '',
    '## Summary (median seconds)',
    '',
    ...summary,
    '',
    '## All rows',
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...body.map((r) => `| ${r.join(' | ')} |`),
    '',
    '## Other figures',
    '',
    ...Object.entries(metrics).map(([k, v]) => `- ${k}: ${v}`),
    '',
    ...(notes.length ? ['## Notes', '', ...notes.map((n) => `- ${n}`), ''] : []),
    ...(runLog.length > 1
      ? [
          'Runs whose rows are in this file (the first, then re-takes with `--merge`):',
          '',
          ...runLog.map((r) => `- ${r.date}: \`npm run bench -- ${r.args}\`${r.note ? ` (${r.note})` : ''}`),
          '',
        ]
      : []),
    `Reproduce: \`npm run bench${runLog[0].args ? ` -- ${runLog[0].args}` : ''}\` (as root; installs ansible, pssh and openssh-server from Debian if missing). This run took ${durationS} s.`,
    '',
  ].join('\n');
  writeFileSync(join(RESULTS, 'latest.md'), md);

  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(line(head));
  for (const r of body) console.log(line(r));
  console.log('');
  for (const [k, v] of Object.entries(metrics)) console.log(`${k}: ${v}`);
  console.log(`\nwritten: bench/results/latest.json, bench/results/latest.md (${durationS} s)`);
}

// ------------------------------------------------ main
const fleet = new FlotillaFleet({ dir: join(work, 'flotilla'), port: 9400 });
const sshFleets = [];
let exitCode = 0;
const cleanup = async () => {
  await fleet.stop();
  for (const s of sshFleets) await s.stop();
};
let stopping = false;
const interrupted = (status) => () => {
  // Ctrl-C reaches this process twice (from the terminal and forwarded by the outer one).
  if (stopping) return;
  stopping = true;
  notes.push('run interrupted: partial results');
  void cleanup().then(() => {
    if (rows.length) writeResults();
    rmSync(work, { recursive: true, force: true });
    process.exit(status);
  });
};
process.on('SIGINT', interrupted(130));
process.on('SIGTERM', interrupted(143));

/** Median and max VmRSS of the fleet's agent processes, as a metric. */
function agentRss(label) {
  const rss = fleet.agents.map((a) => rssMiB(a.pid)).filter((x) => x !== null);
  metrics[`${label} (median / max MiB)`] = `${median(rss).toFixed(1)} / ${Math.max(...rss).toFixed(1)}`;
}

try {
  log(`work directory ${work}; sizes ${SIZES.join(', ')}; ${RUNS} runs; command '${CMD}'`);
  if (TOOLS.has('flotilla')) {
    await fleet.start();
    await startupTimes(fleet);
  }
  const sshOk = TOOLS.has('ssh') || (TOOLS.has('pssh') && have('parallel-ssh')) || (TOOLS.has('ansible') && have('ansible'));
  if ((TOOLS.has('pssh') || TOOLS.has('ansible')) && !(have('/usr/sbin/sshd') && sshOk))
    notes.push('Ansible / parallel-ssh / sshd not installed: measured Flotilla only.');
  for (const n of SIZES) {
    if (TOOLS.has('flotilla')) {
      const t0 = Date.now();
      await fleet.growTo(n);
      log(`${n} Flotilla agents online (${((Date.now() - t0) / 1000).toFixed(1)} s to start and accept)`);
      agentRss(`agent RSS just after start, N=${n}`);
      // Idle means quiet for a while: V8 collects the start-up garbage once the process is idle
      // (about 61 MiB right after start, 57 MiB some seconds later, on this machine).
      await sleep(IDLE_SETTLE_MS);
      agentRss(`agent RSS idle (${IDLE_SETTLE_MS / 1000} s after start), N=${n}`);
      metrics[`signaling server RSS with ${n} agents (MiB)`] = (rssMiB(fleet.signal.pid) ?? NaN).toFixed(1);
      await benchFlotilla(fleet, n);
      if (BROWSER_N.has(n)) await benchBrowserRows(fleet, n);
      agentRss(`agent RSS just after work, N=${n}`);
      await sleep(IDLE_SETTLE_MS);
      agentRss(`agent RSS idle after work (${IDLE_SETTLE_MS / 1000} s later), N=${n}`);
      metrics[`signaling server RSS after work, N=${n} (MiB)`] = (rssMiB(fleet.signal.pid) ?? NaN).toFixed(1);
    }
    if (sshOk && have('/usr/sbin/sshd')) {
      const ssh = new SshFleet({ dir: join(work, `ssh-${n}`), remote: join(work, `ssh-${n}`, 'remote') });
      sshFleets.push(ssh);
      try {
        await ssh.start(n);
        for (let i = 0; i < n; i++) writeFileSync(join(ssh.hostDir(i), FETCH_NAME), fetchContent(i));
        if (TOOLS.has('ssh')) await benchSshLoop(ssh, n);
        if (TOOLS.has('pssh') && have('parallel-ssh')) await benchPssh(ssh, n);
        if (TOOLS.has('ansible') && have('ansible')) await benchAnsible(ssh, n);
      } catch (error) {
        log(`SSH side failed for N=${n}: ${error.message}; continuing with Flotilla only`);
        notes.push(`SSH side failed for N=${n}: ${error.message}`);
      } finally {
        await ssh.stop();
        if (ssh.leftoverMasters) notes.push(`N=${n}: ${ssh.leftoverMasters} SSH master(s) ignored -O exit and were killed by pid.`);
      }
    }
  }
  if (TOOLS.has('flotilla') && SIM.length) await benchSim(fleet);
} catch (error) {
  log(`failed: ${error.stack ?? error}`);
  notes.push(`run aborted: ${error.message.slice(0, 300)}`);
  exitCode = 1;
} finally {
  await cleanup();
  if (rows.length) writeResults();
  rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);
