// Queued tasks through the real store (issue 13, agent side): a real signaling server with its
// SQLite store, real agents as child processes, the CLI to enroll and accept them, and devices
// in this process using FleetSync over the store's HTTP API. Between them and the server sits a
// small proxy that passes everything through (HTTP and the PeerJS WebSocket) and, when a test
// says so, rewrites the records a GET returns: the hostile store.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { memoryFleetSync, startStoreProxy, type StoreProxy } from '../store-proxy.ts';
import { cli, killAll, removeDir, restartAgent, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';
import { openHome } from '../../cli/src/home.ts';
import { addDevice, createIdentity, type DeviceIdentity } from '../../shared/identity/fleet.ts';
import { issueRevocationList } from '../../shared/identity/certs.ts';
import { publishRevocation } from '../../shared/controller/signal-api.ts';
import { deviceMember, type FleetSync } from '../../shared/store/fleet-sync.ts';
import { opaqueRid, sealRecord } from '../../shared/store/envelope.ts';
import { storePut, type StoreMember } from '../../shared/store/client.ts';

let base: string;
let adminHome: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let proxy: StoreProxy;
let token: string;
let admin: DeviceIdentity;
let adminSync: FleetSync;
let phone: DeviceIdentity;
let phoneSync: FleetSync;
const agents: Proc[] = [];

function memberOf(d: DeviceIdentity): StoreMember & { name: string; role: string } {
  return deviceMember(d);
}

/** A device in this process reading and writing the store through the proxy. */
const deviceSync = (d: DeviceIdentity): FleetSync => memoryFleetSync(proxy.url, d, () => accepted);

let accepted: { id: string; encPub: string }[] = [];
async function refreshAccepted(): Promise<void> {
  const home = await openHome(adminHome);
  accepted = (await home.hosts.all()).filter((h) => h.status === 'accepted').map((h) => ({ id: h.id, encPub: h.encPub }));
}

/** Enrolls an agent, lets the CLI accept it (host certificate), and waits until it has read the store once. */
async function enroll(name: string, flags: string[] = []): Promise<Proc & { id: string; dir: string }> {
  const dir = join(base, name);
  const proc = await startAgent(dir, token, flags);
  agents.push(proc);
  expect((await cli(adminHome, ['hosts', '--json'])).code).toBe(0);
  await refreshAccepted();
  expect(accepted.map((h) => h.id)).toContain(proc.id);
  return Object.assign(proc, { dir });
}

async function restart(dir: string): Promise<Proc> {
  const proc = restartAgent(dir);
  agents.push(proc);
  await proc.waitFor(/"event":"signaling-open"/);
  return proc;
}

async function lines(path: string): Promise<string[]> {
  return existsSync(path) ? (await readFile(path, 'utf8')).split('\n').filter(Boolean) : [];
}

async function auditOf(dir: string): Promise<Record<string, unknown>[]> {
  return (await readFile(join(dir, 'audit.log'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const exec = (task: string, cmd: string) => ({ type: 'exec', task, cmd });
const queue = (d: FleetSync, task: string, cmd: string, host: { id: string; encPub: string }, deadline = Date.now() + 120_000) =>
  d.queueTask({ task, request: exec(task, cmd), summary: cmd, selector: `id:${host.id}`, deadline, deviceName: 'laptop' }, { hosts: [host] });
const hostOf = (id: string) => accepted.find((h) => h.id === id)!;

/**
 * A direct task sealed and signed by `d` outside FleetSync, stored with the outer `to` given
 * (a hostile server may list a record for someone it was not written for) and no expiry.
 */
async function directTask(
  d: DeviceIdentity,
  task: string,
  cmd: string,
  target: { id: string; encPub: string },
  to: string[],
  deadline = Date.now() + 120_000,
): Promise<string> {
  const { record } = await sealRecord(d, {
    fleet: d.fleetId,
    rid: await opaqueRid('tq', d.fleetId, `${task}:${target.id}`),
    kind: 'task',
    version: 1,
    to: [target.id],
    payload: {
      type: 'task',
      task,
      request: exec(task, cmd),
      summary: '',
      selector: '*',
      host: target.id,
      deadline,
      window: false,
      cancelled: false,
      deviceName: d.cert.body.name,
      at: Date.now(),
    },
    recipients: { direct: [target] },
  });
  await storePut(proxy.url, memberOf(d), { ...record, to });
  return record.rid;
}

beforeAll(async () => {
  base = await tempDir('store-queue');
  adminHome = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  proxy = await startStoreProxy(signal.port);
  expect((await cli(adminHome, ['init', '--signal', proxy.url, '--name', 'laptop'])).code).toBe(0);
  token = (JSON.parse((await cli(adminHome, ['token', 'create', '--uses', '10', '--json'])).stdout) as { token: string }).token;
  admin = (await openHome(adminHome)).device;
  phone = await addDevice(admin, 'phone', 'operator');
  adminSync = deviceSync(admin);
  phoneSync = deviceSync(phone);
  // Keyrings made, the phone announced and admitted to the devices keyring.
  for (const d of [adminSync, phoneSync, adminSync, phoneSync]) {
    await d.load();
    await d.sync();
  }
}, 90_000);

afterAll(async () => {
  for (const a of agents) await a.stop();
  await signal?.stop();
  await proxy?.close();
  await killAll();
  await removeDir(base);
});

describe('queued tasks through the store', () => {
  it('runs a task queued for a stopped agent exactly once after it restarts, and a second device reads the result', async () => {
    const a = await enroll('queued');
    await a.stop();
    const file = join(base, 'queued-ran.txt');
    await queue(adminSync, 'q-once', `echo ran >> ${file}; echo hello from the queue`, hostOf(a.id));
    const back = await restart(a.dir);
    await back.waitFor(/"event":"store-result-stored","task":"q-once"/);
    expect(await lines(file)).toEqual(['ran']);
    await phoneSync.sync();
    expect(phoneSync.results().find((r) => r.task === 'q-once')).toMatchObject({ host: a.id, status: 'ok', exit: 0, output: 'hello from the queue\n' });
    // Restarted again: read from the start of its mailbox state, nothing runs twice.
    await back.stop();
    const again = await restart(a.dir);
    await new Promise((r) => setTimeout(r, 1500));
    await again.stop();
    expect(await lines(file)).toEqual(['ran']);
    expect(again.output()).not.toMatch(/store-task-started/);
  }, 90_000);

  it('never runs a task whose deadline passed while the agent was away', async () => {
    const a = await enroll('late');
    await a.stop();
    const file = join(base, 'late-ran.txt');
    // Queued with the deadline as its expiry (the store drops it), and one the store still lists (no expiry).
    await queue(adminSync, 'q-late', `echo q-late >> ${file}`, hostOf(a.id), Date.now() + 1500);
    await directTask(phone, 'q-late-kept', `echo q-late-kept >> ${file}`, hostOf(a.id), [a.id], Date.now() + 1500);
    await new Promise((r) => setTimeout(r, 2000));
    await queue(adminSync, 'q-in-time', `echo q-in-time >> ${file}`, hostOf(a.id));
    const back = await restart(a.dir);
    await back.waitFor(/"event":"store-task-refused","task":"q-late-kept"/);
    await back.waitFor(/"event":"store-result-stored","task":"q-in-time"/);
    await back.stop();
    expect(await lines(file)).toEqual(['q-in-time']);
    expect(await auditOf(a.dir)).toContainEqual(
      expect.objectContaining({ task: 'q-late-kept', device: phone.id, outcome: 'refused', code: 'timeout', via: 'store' }),
    );
  }, 90_000);

  it('delivers a tag-window task to a host that enrolled after the task was made', async () => {
    const file = join(base, 'window-ran.txt');
    await adminSync.queueTask(
      {
        task: 'q-window',
        request: exec('q-window', `echo "$(hostname) ran" >> ${file}`),
        summary: 'window',
        selector: 'tag:wave=late',
        deadline: Date.now() + 120_000,
        deviceName: 'laptop',
      },
      { window: true },
    );
    const a = await enroll('newcomer', ['--tag', 'wave=late']);
    // The admin device admits the newly accepted host to the fleet keyring; the push wakes the agent.
    await adminSync.sync();
    await a.waitFor(/"event":"store-result-stored","task":"q-window"/);
    await phoneSync.sync();
    expect(phoneSync.queue().find((q) => q.task === 'q-window')?.hosts).toEqual([expect.objectContaining({ host: a.id, state: 'ok' })]);
    expect((await lines(file)).length).toBe(1);
    await a.stop();
  }, 90_000);

  it('refuses a viewer task, a revoked device task, a record moved to it and a bit-flipped record, and audits each', async () => {
    const a = await enroll('hostile');
    await a.stop();
    const file = join(base, 'hostile-ran.txt');
    const me = hostOf(a.id);
    const [viewer, leaver] = await Promise.all([addDevice(admin, 'wallboard', 'viewer'), addDevice(admin, 'leaver', 'operator')]);
    const viewerRid = await directTask(viewer, 'h-viewer', `echo h-viewer >> ${file}`, me, [me.id]);
    const revokedRid = await directTask(leaver, 'h-revoked', `echo h-revoked >> ${file}`, me, [me.id]);
    await publishRevocation(signal.url, admin.fleetPub, await issueRevocationList(admin.fleetKeys!.privateKey, admin.fleetId, 1, [leaver.id]));
    // Sealed and signed for another host; the server lists it for this one.
    const other = await createIdentity(true);
    const movedRid = await directTask(phone, 'h-moved', `echo h-moved >> ${file}`, { id: other.id, encPub: other.pub.encPub }, [me.id]);
    await queue(phoneSync, 'h-flipped', `echo h-flipped >> ${file}`, me);
    const flippedRid = await opaqueRid('tq', admin.fleetId, `h-flipped:${me.id}`);
    proxy.tamper = (r) => {
      if (r.rid !== flippedRid) return r;
      const bytes = Buffer.from(r.body, 'base64');
      const at = bytes.indexOf('"ct":"') + 12;
      bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41;
      return { ...r, body: bytes.toString('base64') };
    };
    try {
      const back = await restart(a.dir);
      const refused = await until('four refusals in the audit log', async () => {
        const found = (await auditOf(a.dir)).filter((e) => e['request'] === 'store-refused');
        return found.length >= 4 ? found : undefined;
      });
      await back.stop();
      expect(await lines(file)).toEqual([]);
      const byRid = new Map(refused.map((e) => [e['rid'], e]));
      expect(byRid.get(viewerRid)).toMatchObject({
        device: viewer.id,
        outcome: 'refused',
        detail: expect.stringMatching(/viewer device may not write a task/),
      });
      expect(byRid.get(revokedRid)).toMatchObject({ outcome: 'refused', detail: expect.stringMatching(/cert-revoked/) });
      expect(byRid.get(movedRid)).toMatchObject({ outcome: 'refused', detail: expect.stringMatching(/recipients differs/) });
      expect(byRid.get(flippedRid)).toMatchObject({ outcome: 'refused', detail: expect.stringMatching(/signature does not verify/) });
      expect(back.output()).toMatch(/"event":"store-refused"/);
    } finally {
      proxy.tamper = undefined;
    }
  }, 90_000);

  it('runs a task once when the agent is killed right after starting it, and stores its result after the restart', async () => {
    const a = await enroll('killed');
    await a.stop();
    const file = join(base, 'killed-ran.txt');
    await queue(adminSync, 'q-killed', `echo started >> ${file}; sleep 2; echo done >> ${file}`, hostOf(a.id));
    const back = await restart(a.dir);
    await back.waitFor(/"event":"store-task-started","task":"q-killed"/);
    await until('the command to start', async () => ((await lines(file)).length > 0 ? true : undefined));
    await back.stop('SIGKILL');
    const again = await restart(a.dir);
    await again.waitFor(/"event":"store-result-stored","task":"q-killed"/);
    await new Promise((r) => setTimeout(r, 2500)); // the orphaned command finishes on its own
    expect((await lines(file)).filter((l) => l === 'started')).toHaveLength(1);
    expect(again.output()).not.toMatch(/store-task-started/);
    await phoneSync.sync();
    expect(phoneSync.results().find((r) => r.task === 'q-killed')).toMatchObject({ host: a.id, status: 'interrupted' });
    await again.stop();
  }, 90_000);
});
