// The job API beside the warm CLI (issue 14): N real agents, `flotilla serve --api` with its own
// operator home, a `manual` job whose command is `true`, and per --runs: a synchronous
// POST /jobs/bench-true/invoke (wall time of the HTTP call, every host's run ended), then the
// warm CLI's `flotilla run '*' -- true` (wall time with node's start, and request-to-exit through
// the control process's socket). Medians and ranges, printed.
// Needs its own network namespace: unshare -n sh -c 'ip link set lo up; node bench/jobs-api.mjs'
//   --n 15      agents
//   --runs 10   invocations of each
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FlotillaFleet } from './flotilla-fleet.mjs';
import { parseJson, run, sleep } from './lib.mjs';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '15' },
    runs: { type: 'string', default: '10' },
    port: { type: 'string', default: '9600' },
    'api-port': { type: 'string', default: '9680' },
  },
});
const n = Number(values.n);
const runs = Number(values.runs);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs) => `${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}`;

const dir = mkdtempSync(join(tmpdir(), 'flotilla-jobs-api-'));
const fleet = new FlotillaFleet({ dir, port: Number(values.port) });
const apiHome = join(dir, 'api');
let serve;
try {
  await fleet.start();
  await fleet.growTo(n);
  const apiEnv = { ...fleet.env, FLOTILLA_HOME: apiHome };
  const apiCli = (args) => run(process.execPath, [join(REPO, 'bin', 'flotilla.js'), ...args], { env: apiEnv, cwd: dir });
  if ((await fleet.cli(['device', 'add', 'api', '--home', apiHome, '--role', 'operator'])).code !== 0) throw new Error('device add failed');
  await apiCli(['hosts', '--json']); // the API's device announces itself
  await fleet.cli(['hosts', '--json']); // the admin adds it to the keyrings
  const token = parseJson((await apiCli(['api-token', 'create', '--scope', 'admin', '--name', 'bench', '--json'])).stdout)?.token;
  if (!token) throw new Error('api-token create failed');
  const api = `http://127.0.0.1:${values['api-port']}`;
  serve = spawn(process.execPath, [join(REPO, 'bin', 'flotilla.js'), 'serve', '--api', `127.0.0.1:${values['api-port']}`, '--rate', '6000/m'], {
    env: apiEnv,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((ok, fail) => {
    serve.stdout.on('data', (c) => /Flotilla API on/.test(String(c)) && ok());
    serve.once('exit', (code) => fail(new Error(`serve exited ${code}`)));
  });
  const call = async (method, path, body) => {
    const started = performance.now();
    const r = await fetch(api + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, body: await r.json(), ms: performance.now() - started };
  };
  const saved = await call('POST', '/jobs', { name: 'bench-true', command: 'true', target: 'tag:role=bench', schedule: 'manual' });
  if (saved.status !== 201) throw new Error(`POST /jobs: ${JSON.stringify(saved.body)}`);
  // Warm-up: every agent installs the job and the API dials every host once.
  for (let i = 0; i < 20; i++) {
    const r = await call('POST', '/jobs/bench-true/invoke', {});
    if (r.body.ok && r.body.hosts.length === n) break;
    await sleep(500);
  }
  const apiMs = [];
  let apiFailed = 0;
  for (let i = 0; i < runs; i++) {
    const r = await call('POST', '/jobs/bench-true/invoke', {});
    apiMs.push(r.ms);
    if (!r.body.ok || r.body.hosts.length !== n) apiFailed++;
  }
  await fleet.connect('*');
  for (let i = 0; i < 2; i++) await fleet.cli(['run', '*', '--', 'true']);
  const cliMs = [];
  const controlMs = [];
  let cliFailed = 0;
  for (let i = 0; i < runs; i++) {
    const r = await fleet.cli(['run', '*', '--', 'true']);
    cliMs.push(r.seconds * 1000);
    if (r.code !== 0) cliFailed++;
    controlMs.push((await fleet.invokeControl(['run', '*', '--', 'true'])).ms);
  }
  console.log(`${n} agents, ${runs} runs each`);
  console.log(
    `API sync invoke of true (HTTP call, every run ended): median ${median(apiMs).toFixed(0)} ms (${range(apiMs)})${apiFailed ? `, ${apiFailed} not ok` : ''}`,
  );
  console.log(`warm CLI run '*' -- true: median ${median(cliMs).toFixed(0)} ms (${range(cliMs)}) with node's start${cliFailed ? `, ${cliFailed} failed` : ''}`);
  console.log(`warm CLI through the control socket (no node start): median ${median(controlMs).toFixed(0)} ms (${range(controlMs)})`);
} finally {
  serve?.kill('SIGTERM');
  await fleet.disconnect();
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}
