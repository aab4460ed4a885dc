// Offline delivery at scale (issue 13): N agents that were away, each with one task queued for
// it in the store, come back at once. Each simulated agent is the agent's real mailbox
// (agent/src/mailbox.ts) with its own identity, host certificate, state directory, journal and
// audit log, in this one process; the store is a real signaling server child process (SQLite).
// The task is `echo` through the real exec handler; the time is from the moment they all sync
// until each one's result is stored. Run through tsx:
//   node --import tsx bench/store-delivery.mjs --n 100,500
import { parseArgs } from 'node:util';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createFleet, createIdentity } from '../shared/identity/fleet.ts';
import { exportIdentity, identityId, importIdentity } from '../shared/identity/crypto.ts';
import { issueHostCert } from '../shared/identity/certs.ts';
import { writeJsonAtomic } from '../node/files.ts';
import { FleetSync } from '../shared/store/fleet-sync.ts';
import { loadConfig } from '../agent/src/config.ts';
import { openState } from '../agent/src/state.ts';
import { openJournal } from '../agent/src/journal.ts';
import { openAuditLog } from '../agent/src/audit.ts';
import { createMailbox } from '../agent/src/mailbox.ts';
import { median, percentile, sleep } from './lib.mjs';

const { values } = parseArgs({ options: { n: { type: 'string', default: '100,500' }, 'timeout-s': { type: 'string', default: '600' } } });
const sizes = values.n.split(',').map(Number);
const root = await mkdtemp(join(tmpdir(), 'flotilla-store-delivery-'));

async function startSignal(dataDir) {
  const child = spawn(
    process.execPath,
    ['bin/flotilla-signal.js', '--host', '127.0.0.1', '--port', '0', '--stun-port', '0', '--data-dir', dataDir, '--store', 'sqlite'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let text = '';
  const url = await new Promise((res, rej) => {
    const onData = (c) => {
      text += c.toString();
      const m = /"event":"signal.listening","url":"([^"]+)"/.exec(text);
      if (m) res(m[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', () => rej(new Error(`the signaling server exited:\n${text}`)));
  });
  return { child, url };
}

/** Retries a store write the fleet's write rate refused. */
async function patiently(write) {
  for (;;) {
    try {
      return await write();
    } catch (error) {
      if (error?.code !== 'rate-limited') throw error;
      await sleep(500);
    }
  }
}

// Agent keys take minutes to make on a busy machine: kept between runs (a benchmark's keys only).
const keysPath = join(tmpdir(), 'flotilla-bench-store-delivery-keys.json');
const stored = JSON.parse(await readFile(keysPath, 'utf8').catch(() => '[]'));
const identities = [];
for (const s of stored.slice(0, Math.max(...sizes))) {
  const pub = { signPub: s.signPub, encPub: s.encPub };
  identities.push({ keys: await importIdentity(s), pub, id: await identityId(pub) });
}
if (identities.length < Math.max(...sizes)) console.error(`making ${Math.max(...sizes) - identities.length} agent identities…`);
while (identities.length < Math.max(...sizes)) {
  const identity = await createIdentity(true);
  identities.push(identity);
  stored.push(await exportIdentity(identity.keys));
}
await writeFile(keysPath, JSON.stringify(stored), { mode: 0o600 });

const rows = [];
for (const n of sizes) {
  const dir = join(root, `n${n}`);
  await mkdir(dir, { recursive: true });
  const signal = await startSignal(join(dir, 'signal'));
  try {
    const admin = await createFleet('bench admin', true);
    let kept;
    const device = new FleetSync({
      signal: signal.url,
      member: { ...admin, kind: 'device', name: 'bench admin', role: 'admin', fleetId: admin.fleetId },
      cache: { load: async () => kept, save: async (s) => void (kept = s) },
      revocation: () => undefined,
    });
    await device.load();
    await device.sync(); // the keyrings: results are sealed to the devices keyring
    const agents = [];
    for (let i = 0; i < n; i++) {
      const stateDir = join(dir, `a${i}`);
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      const identity = identities[i];
      await writeJsonAtomic(join(stateDir, 'identity.json'), await exportIdentity(identity.keys), 0o600);
      const state = await openState(stateDir);
      const hostCert = await issueHostCert(admin.fleetKeys.privateKey, admin.fleetId, identity.pub, admin.id);
      await state.saveEnrollment({ fleet: admin.fleetId, signal: signal.url, hostCert, fleetPub: admin.fleetPub });
      const config = loadConfig({ stateDir, logLevel: 'warn' }, {});
      const journal = await openJournal(stateDir);
      const audit = await openAuditLog(stateDir, () => undefined);
      const agent = { id: identity.id, stored: undefined, retries: 0, audit };
      const log = (_level, event) => {
        if (event === 'store-result-stored') agent.stored ??= performance.now();
        if (event === 'store-result-not-stored') agent.retries++;
      };
      agent.mailbox = createMailbox({ config, state, journal, audit, log, signalUrl: signal.url });
      agents.push(agent);
    }
    console.error(`n=${n}: queueing ${n} tasks…`);
    const deadline = Date.now() + 3600_000;
    for (const [i, a] of agents.entries()) {
      const task = `bench-${n}-${i}`;
      await patiently(() =>
        device.queueTask(
          { task, request: { type: 'exec', task, cmd: 'echo delivered' }, summary: 'echo', selector: `id:${a.id}`, deadline, deviceName: 'bench admin' },
          { hosts: [{ id: a.id, encPub: identities[i].pub.encPub }] },
        ),
      );
    }
    console.error(`n=${n}: all agents back at once…`);
    const t0 = performance.now();
    await Promise.all(agents.map((a) => a.mailbox.sync('bench')));
    const limit = Date.now() + Number(values['timeout-s']) * 1000;
    while (agents.some((a) => a.stored === undefined) && Date.now() < limit) await sleep(100);
    const total = performance.now() - t0;
    const times = agents.filter((a) => a.stored !== undefined).map((a) => (a.stored - t0) / 1000);
    rows.push({
      n,
      stored: times.length,
      median: median(times),
      p95: percentile(times, 95),
      max: Math.max(...times),
      total: total / 1000,
      retries: agents.reduce((s, a) => s + a.retries, 0),
    });
    for (const a of agents) await a.mailbox.stop(1000);
    for (const a of agents) await a.audit.close();
  } finally {
    signal.child.kill('SIGTERM');
    await new Promise((r) => signal.child.once('exit', r));
  }
}
await rm(root, { recursive: true, force: true });

console.log('\n| agents | results stored | median per agent | p95 | max | total | result puts retried |');
console.log('| -----: | -------------: | ---------------: | --: | --: | ----: | ------------------: |');
for (const r of rows)
  console.log(`| ${r.n} | ${r.stored} | ${r.median.toFixed(2)} s | ${r.p95.toFixed(2)} s | ${r.max.toFixed(2)} s | ${r.total.toFixed(2)} s | ${r.retries} |`);
