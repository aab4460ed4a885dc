// `npm run bench`: Flotilla against parallel-ssh and Ansible on the same machine, every host on
// loopback. See bench/README.md for the method. Options:
//   --n 15,45            fleet sizes (default 15,45)
//   --runs 5             timed runs per scenario, tool and mode (default 5)
//   --tools flotilla,pssh,ansible
//   --scenarios cmd,push21,push30k,fetch,sleep5
//   --no-install         never apt-get install the SSH tools
// The whole run happens inside a private network namespace (loopback only), entered below.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync, statSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { run, log, rssMiB, summarize, median, parseJson } from './lib.mjs';
import { FlotillaFleet } from './flotilla-fleet.mjs';
import { SshFleet } from './ssh-fleet.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');
const RESULTS = join(HERE, 'results');
const INNER_ENV = 'FLOTILLA_BENCH_IN_NETNS';

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '15,45' },
    runs: { type: 'string', default: '5' },
    tools: { type: 'string', default: 'flotilla,pssh,ansible' },
    scenarios: { type: 'string', default: 'cmd,push21,push30k,fetch,sleep5' },
    'no-install': { type: 'boolean', default: false },
  },
});
const SIZES = opts.n.split(',').map(Number).filter((x) => x > 0).sort((a, b) => a - b);
const RUNS = Math.max(1, Number(opts.runs));
const TOOLS = new Set(opts.tools.split(','));
const SCENARIOS = opts.scenarios.split(',');
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
  const wantSsh = TOOLS.has('pssh') || TOOLS.has('ansible');
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
  const args = process.argv.slice(2).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const script = `ip link set lo up && exec '${process.execPath}' '${fileURLToPath(import.meta.url)}' ${args}`;
  const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { stdio: 'inherit', env: { ...process.env, [INNER_ENV]: '1' }, cwd: REPO });
  process.exit(r.status ?? 1);
}

// ---------------------------------------------------------------- inside the namespace
const work = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
const started = Date.now();
const rows = [];
const metrics = {};
const notes = [];

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
    if (statSync(p).isDirectory()) out.push(...walk(p)); else out.push(p);
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
    } catch { /* missing */ }
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
  const ok = results.filter((r) => r.status === 'ok' && (!exitCode || r.exitCode === 0)).length;
  return Math.min(ok, n);
}

const countMatches = (text, re) => (text.match(re) ?? []).length;

/** Times `runs` invocations of one scenario; `once` returns { code, seconds, ok } per run. */
async function measure({ scenario, n, tool, mode, once, warmup }) {
  if (warmup) await warmup();
  const times = [];
  let successes = 0;
  let failures = 0;
  for (let k = 0; k < RUNS; k++) {
    const r = await once(k);
    times.push(r.seconds);
    successes += r.ok;
    if (r.ok < n) {
      failures++;
      if (failures === 1) log(`  ${tool} ${mode} ${scenario}: run ${k} ok on ${r.ok}/${n} (exit ${r.code})${r.detail ? `: ${r.detail.slice(0, 400)}` : ''}`);
    }
  }
  const row = { scenario, n, tool, mode, ...summarize(times), successes, attempts: RUNS * n, runs: RUNS, times };
  rows.push(row);
  log(`  ${tool.padEnd(8)} ${mode.padEnd(4)} ${scenario.padEnd(8)} N=${n}: median ${row.median.toFixed(3)} s (${row.min.toFixed(3)}–${row.max.toFixed(3)}), ok ${successes}/${RUNS * n}`);
  return row;
}

// ------------------------------------------------ Flotilla
async function benchFlotilla(fleet, n) {
  const dirs = fleet.agents.slice(0, n).map((a) => a.hostDir);
  for (let i = 0; i < dirs.length; i++) writeFileSync(join(dirs[i], FETCH_NAME), fetchContent(i));
  const sel = 'tag:role=bench';
  const forks = ['--forks', String(Math.max(32, n))];
  const out = join(work, 'flotilla-out');
  const detail = (r) => {
    const j = parseJson(r.stdout);
    const results = Array.isArray(j) ? j : j?.results;
    if (!Array.isArray(results)) return `${r.stderr}${r.stdout}`.trim();
    return JSON.stringify(results.filter((x) => x.status !== 'ok').map((x) => ({ host: x.host, status: x.status, error: x.error })));
  };
  const scen = {
    cmd: async () => {
      const r = await fleet.cli(['run', sel, '--json', ...forks, '--', ...CMD.split(' ')]);
      return { ...r, ok: flotillaOk(r.stdout, n, { exitCode: true }), detail: detail(r) };
    },
    push21: async () => {
      const r = await fleet.cli(['push', sel, join(srcDir, files.push21.name), join(fleet.remote, files.push21.name), '--json', ...forks]);
      const onDisk = checkPushed(dirs, files.push21.name, files.push21.data);
      return { ...r, ok: Math.min(onDisk, flotillaOk(r.stdout, n)), detail: detail(r) };
    },
    push30k: async () => {
      const r = await fleet.cli(['push', sel, join(srcDir, files.push30k.name), join(fleet.remote, files.push30k.name), '--json', ...forks]);
      const onDisk = checkPushed(dirs, files.push30k.name, files.push30k.data);
      return { ...r, ok: Math.min(onDisk, flotillaOk(r.stdout, n)), detail: detail(r) };
    },
    fetch: async () => {
      const r = await fleet.cli(['fetch', sel, join(fleet.remote, FETCH_NAME), out, '--json', ...forks]);
      const got = checkFetched(out, n);
      return { ...r, ok: Math.min(got, flotillaOk(r.stdout, n)), detail: detail(r) };
    },
    sleep5: async () => {
      const r = await fleet.cli(['run', sel, '--json', ...forks, '--', 'sleep', '5']);
      return { ...r, ok: flotillaOk(r.stdout, n, { exitCode: true }), detail: detail(r) };
    },
  };
  for (const s of SCENARIOS) {
    if (!scen[s]) continue;
    await measure({ scenario: s, n, tool: 'flotilla', mode: 'cold', once: scen[s] });
    rows.push({ scenario: s, n, tool: 'flotilla', mode: 'warm', median: null, min: null, max: null, successes: null, attempts: null, note: 'n/a (not built yet)' });
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
    for (const s of SCENARIOS) {
      if (scen[s]) await measure({ scenario: s, n, tool: 'pssh', mode, once: scen[s], warmup });
    }
  }
}

// ------------------------------------------------ Ansible
async function benchAnsible(ssh, n) {
  const dirs = ssh.hosts.map((h) => h.hostDir);
  const out = join(work, 'ansible-out');
  for (const mode of ['cold', 'warm']) {
    const env = ssh.ansibleEnv(mode);
    const adhoc = (module, args) => run('ansible', ['bench', '-i', ssh.inventory, '-f', String(n), '-m', module, '-a', args],
      { env, cwd: ssh.sshDir, timeoutMs: 300_000 });
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
    for (const s of SCENARIOS) {
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
  const head = ['scenario', 'N', 'tool', 'mode', 'median s', 'min–max s', 'ok'];
  const body = rowsToShow.map((r) => r.note
    ? [r.scenario, String(r.n), r.tool, r.mode, r.note, '', '']
    : [r.scenario, String(r.n), r.tool, r.mode, fmt(r.median), `${fmt(r.min)}–${fmt(r.max)}`, `${r.successes}/${r.attempts}`]);
  return { head, body };
}

function writeResults() {
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? null,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: version('uname', ['-r'], /(\S+)/),
  };
  const versions = {
    node: process.version,
    flotilla: JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version,
    werift: (() => { try { return JSON.parse(readFileSync(join(REPO, 'node_modules/werift/package.json'), 'utf8')).version; } catch { return null; } })(),
    ansible: have('ansible') ? version('ansible', ['--version'], /core ([\d.]+)/) : null,
    pssh: have('parallel-ssh') ? version('dpkg-query', ['-W', '-f=${Version}', 'pssh'], /(\S+)/) : null,
    openssh: have('ssh') ? version('ssh', ['-V'], /OpenSSH_([^\s,]+)/) : null,
  };
  const date = new Date().toISOString();
  const durationS = Math.round((Date.now() - started) / 1000);
  const result = {
    date, machine, versions, durationS, runs: RUNS, command: CMD,
    method: 'Wall time of one new CLI process per run (cold), measured from outside; every host on loopback in a private network namespace; each host has its own directory (a bind mount in its own mount namespace); success = exit status 0 and every host ok, pushed files byte-exact on disk, fetched files byte-exact.',
    results: rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'times'))), times: rows.filter((r) => r.times).map((r) => ({ scenario: r.scenario, n: r.n, tool: r.tool, mode: r.mode, seconds: r.times })),
    metrics, notes,
  };
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);

  const { head, body } = table(rows);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const md = [
    '# Flotilla benchmark',
    '',
    `Load average at the end: ${load} (other work on the machine skews every figure).`,
    '',
    `${date} · ${machine.nproc} cores (${machine.cpu}) · ${machine.memoryGiB} GiB · Linux ${machine.kernel}`,
    `Node ${versions.node} · Flotilla ${versions.flotilla} (werift ${versions.werift}) · Ansible ${versions.ansible ?? 'not installed'} · pssh ${versions.pssh ?? 'not installed'} · OpenSSH ${versions.openssh ?? '-'}`,
    '',
    `Medians of ${RUNS} runs, seconds. \`cmd\` = \`${CMD}\`; push21/push30k = a 21-byte / 30 KiB file; fetch = one file back from every host; sleep5 = \`sleep 5\` on every host.`,
    'cold = a new controller process per run (connect, handshake, run); warm = connections already open (SSH ControlPersist; Ansible also with pipelining). `ok` = hosts that succeeded over all runs.',
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...body.map((r) => `| ${r.join(' | ')} |`),
    '',
    '## Memory',
    '',
    ...Object.entries(metrics).map(([k, v]) => `- ${k}: ${v}`),
    '',
    ...(notes.length ? ['## Notes', '', ...notes.map((n) => `- ${n}`), ''] : []),
    `Reproduce: \`npm run bench\` (as root; installs ansible, pssh and openssh-server from Debian if missing). This run took ${durationS} s.`,
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
const interrupted = (status) => () => {
  notes.push('run interrupted: partial results');
  void cleanup().then(() => {
    if (rows.length) writeResults();
    rmSync(work, { recursive: true, force: true });
    process.exit(status);
  });
};
process.on('SIGINT', interrupted(130));
process.on('SIGTERM', interrupted(143));

try {
  log(`work directory ${work}; sizes ${SIZES.join(', ')}; ${RUNS} runs; command '${CMD}'`);
  if (TOOLS.has('flotilla')) await fleet.start();
  const sshOk = (TOOLS.has('pssh') && have('parallel-ssh')) || (TOOLS.has('ansible') && have('ansible'));
  if ((TOOLS.has('pssh') || TOOLS.has('ansible')) && !(have('/usr/sbin/sshd') && sshOk)) notes.push('Ansible / parallel-ssh / sshd not installed: measured Flotilla only.');
  for (const n of SIZES) {
    if (TOOLS.has('flotilla')) {
      const t0 = Date.now();
      await fleet.growTo(n);
      log(`${n} Flotilla agents online (${((Date.now() - t0) / 1000).toFixed(1)} s to start and accept)`);
      const idle = fleet.agents.map((a) => rssMiB(a.pid)).filter((x) => x !== null);
      metrics[`agent RSS idle, N=${n} (median / max MiB)`] = `${median(idle).toFixed(1)} / ${Math.max(...idle).toFixed(1)}`;
      metrics[`signaling server RSS with ${n} agents (MiB)`] = (rssMiB(fleet.signal.pid) ?? NaN).toFixed(1);
      await benchFlotilla(fleet, n);
      const after = fleet.agents.map((a) => rssMiB(a.pid)).filter((x) => x !== null);
      metrics[`agent RSS after work, N=${n} (median / max MiB)`] = `${median(after).toFixed(1)} / ${Math.max(...after).toFixed(1)}`;
      metrics[`signaling server RSS after work, N=${n} (MiB)`] = (rssMiB(fleet.signal.pid) ?? NaN).toFixed(1);
    }
    if (sshOk && have('/usr/sbin/sshd')) {
      const ssh = new SshFleet({ dir: join(work, `ssh-${n}`), remote: join(work, `ssh-${n}`, 'remote') });
      sshFleets.push(ssh);
      try {
        await ssh.start(n);
        for (let i = 0; i < n; i++) writeFileSync(join(ssh.hostDir(i), FETCH_NAME), fetchContent(i));
        if (TOOLS.has('pssh') && have('parallel-ssh')) await benchPssh(ssh, n);
        if (TOOLS.has('ansible') && have('ansible')) await benchAnsible(ssh, n);
      } catch (error) {
        log(`SSH side failed for N=${n}: ${error.message}; continuing with Flotilla only`);
        notes.push(`SSH side failed for N=${n}: ${error.message}`);
      } finally {
        await ssh.stop();
      }
    }
  }
} catch (error) {
  log(`failed: ${error.stack ?? error}`);
  notes.push(`run aborted: ${error.message}`);
  exitCode = 1;
} finally {
  await cleanup();
  if (rows.length) writeResults();
  rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);
