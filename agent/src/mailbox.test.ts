// The agent's mailbox against the store double: queued tasks run once through the journal, their
// results reach the devices, and what a hostile store or a wrong writer leaves is refused and
// audited. The real server and real agents: e2e/integration/store-queue.test.ts.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addDevice, createFleet, type DeviceIdentity } from '../../shared/identity/fleet.ts';
import { issueHostCert } from '../../shared/identity/certs.ts';
import { FleetSync, deviceMember, type SyncSnapshot } from '../../shared/store/fleet-sync.ts';
import { createTestStore, type TestStore } from '../../shared/store/test-store.ts';
import { sealRecord, opaqueRid } from '../../shared/store/envelope.ts';
import { storePut } from '../../shared/store/client.ts';
import { loadConfig } from './config.ts';
import { openState, type AgentState } from './state.ts';
import { openJournal } from './journal.ts';
import { openAuditLog, type AuditLog } from './audit.ts';
import { createMailbox, type Mailbox } from './mailbox.ts';
import type { JobRunsDoc } from '../../shared/jobs/runs.ts';

const SIGNAL = 'http://store.test/';
let laptop: DeviceIdentity;
let phone: DeviceIdentity;
let wallboard: DeviceIdentity;
const dirs: string[] = [];

function device(d: DeviceIdentity, store: TestStore, localHosts: { id: string; encPub: string }[] = []): FleetSync {
  let kept: SyncSnapshot | undefined;
  return new FleetSync({
    signal: SIGNAL,
    member: deviceMember(d),
    cache: { load: async () => (kept ? structuredClone(kept) : undefined), save: async (s) => void (kept = structuredClone(s)) },
    revocation: () => undefined,
    localHosts: () => localHosts,
    http: store.http,
  });
}

interface TestAgent {
  state: AgentState;
  audit: AuditLog;
  mailbox: Mailbox;
  dir: string;
}

async function agent(store: TestStore, dir?: string): Promise<TestAgent> {
  const stateDir = dir ?? (await mkdtemp(join(tmpdir(), 'flotilla-mailbox-')));
  if (!dir) dirs.push(stateDir);
  const state = await openState(stateDir);
  if (!state.enrollment) {
    const hostCert = await issueHostCert(laptop.fleetKeys!.privateKey, laptop.fleetId, state.identity.pub, laptop.id);
    await state.saveEnrollment({ fleet: laptop.fleetId, signal: SIGNAL, hostCert, fleetPub: laptop.fleetPub });
  }
  const config = loadConfig({ stateDir, tag: ['role=web'] }, {});
  const journal = await openJournal(stateDir);
  const audit = await openAuditLog(stateDir, () => undefined);
  const mailbox = createMailbox({ config, state, journal, audit, log: () => undefined, signalUrl: SIGNAL, http: store.http });
  await mailbox.load();
  return { state, audit, mailbox, dir: stateDir };
}

async function settle(a: TestAgent): Promise<void> {
  await a.mailbox.sync('test');
  await a.mailbox.idle();
}

beforeAll(async () => {
  laptop = await createFleet('laptop', true);
  [phone, wallboard] = await Promise.all([addDevice(laptop, 'phone', 'operator'), addDevice(laptop, 'wallboard', 'viewer')]);
});

afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const exec = (task: string, cmd: string) => ({ type: 'exec', task, cmd });

describe('agent mailbox', () => {
  it('runs a queued task once, leaves its result for the devices, and keeps its state file private', async () => {
    const store = createTestStore();
    const host = await agent(store);
    const out = join(host.dir, 'ran.txt');
    const admin = device(laptop, store);
    const other = device(phone, store);
    for (const d of [admin, other, admin, other]) {
      await d.load();
      await d.sync();
    }
    const deadline = Date.now() + 60_000;
    const me = { id: host.state.identity.id, encPub: host.state.identity.pub.encPub };
    await admin.queueTask(
      { task: 'q-1', request: exec('q-1', `echo ran >> ${out}; echo hello`), summary: 'echo', selector: '*', deadline, deviceName: 'laptop' },
      { hosts: [me] },
    );
    await settle(host);
    await settle(host);
    expect(await readFile(out, 'utf8')).toBe('ran\n');
    await other.sync();
    expect(other.results()).toEqual([expect.objectContaining({ task: 'q-1', host: me.id, status: 'ok', exit: 0, output: 'hello\n' })]);
    expect((await stat(join(host.dir, 'mailbox.json'))).mode & 0o777).toBe(0o600);
    const audit = await host.audit.tail(10);
    expect(audit).toContainEqual(expect.objectContaining({ device: laptop.id, request: 'exec', task: 'q-1', outcome: 'accepted', via: 'store' }));

    // Restarted with the same state: the task is not run again.
    const again = await agent(store, host.dir);
    await settle(again);
    expect(await readFile(out, 'utf8')).toBe('ran\n');
  }, 30_000);

  it('refuses a viewer task, a task past its deadline and a rewritten record, and runs a tag window once its keyring admits the host', async () => {
    const store = createTestStore();
    const host = await agent(store);
    const out = join(host.dir, 'ran.txt');
    const me = { id: host.state.identity.id, encPub: host.state.identity.pub.encPub };
    const admin = device(laptop, store);
    await admin.load();
    await admin.sync();
    // A tag window before the host is in the fleet keyring: it waits, then runs.
    await admin.queueTask(
      {
        task: 'w-1',
        request: exec('w-1', `echo window >> ${out}`),
        summary: 'w',
        selector: 'tag:role=web',
        deadline: Date.now() + 60_000,
        deviceName: 'laptop',
      },
      { window: true },
    );
    await settle(host);
    await expect(readFile(out, 'utf8')).rejects.toThrow();
    const admitted = device(laptop, store, [me]);
    await admitted.load();
    await admitted.sync();
    await settle(host);
    expect(await readFile(out, 'utf8')).toBe('window\n');

    // A viewer's task (signed by it, sealed to the host) and an expired one.
    const viewerTask = await sealRecord(wallboard, {
      fleet: laptop.fleetId,
      rid: await opaqueRid('tq', laptop.fleetId, `v-1:${me.id}`),
      kind: 'task',
      version: 1,
      to: [me.id],
      payload: {
        type: 'task',
        task: 'v-1',
        request: exec('v-1', `echo viewer >> ${out}`),
        summary: '',
        selector: '*',
        host: me.id,
        deadline: Date.now() + 60_000,
        window: false,
        cancelled: false,
        deviceName: 'wallboard',
        at: Date.now(),
      },
      recipients: { direct: [me] },
    });
    await storePut(
      SIGNAL,
      {
        id: wallboard.id,
        keys: wallboard.keys,
        pub: wallboard.pub,
        kind: 'device',
        fleetId: wallboard.fleetId,
        fleetPub: wallboard.fleetPub,
        cert: wallboard.cert,
      },
      viewerTask.record,
      store.http,
    );
    await admin.queueTask(
      { task: 'e-1', request: exec('e-1', `echo expired >> ${out}`), summary: '', selector: '*', deadline: Date.now() + 300, deviceName: 'laptop' },
      { hosts: [me] },
    );
    await new Promise((r) => setTimeout(r, 400));
    // The store flips a byte of the next record it serves.
    await admin.queueTask(
      { task: 'f-1', request: exec('f-1', `echo flipped >> ${out}`), summary: '', selector: '*', deadline: Date.now() + 60_000, deviceName: 'laptop' },
      { hosts: [me] },
    );
    store.tamper = (r) => (r.rid === [...store.records.values()].at(-1)?.rid ? { ...r, body: flip(r.body) } : r);
    await settle(host);
    expect(await readFile(out, 'utf8')).toBe('window\n');
    const audit = await host.audit.tail(50);
    const refused = audit.filter((a) => a.outcome === 'refused');
    expect(refused).toContainEqual(
      expect.objectContaining({ request: 'store-refused', device: wallboard.id, detail: expect.stringMatching(/viewer device may not write a task/) }),
    );
    expect(refused).toContainEqual(expect.objectContaining({ task: 'e-1', code: 'timeout', via: 'store' }));
    expect(refused).toContainEqual(
      expect.objectContaining({ request: 'store-refused', detail: expect.stringMatching(/signature|not an envelope|base64|decrypt/) }),
    );
  }, 30_000);

  it('stores a document for the devices at the version given, and after a conflict at the one after the store holds', async () => {
    const store = createTestStore();
    const host = await agent(store);
    const me = { id: host.state.identity.id, encPub: host.state.identity.pub.encPub };
    const admin = device(laptop, store, [me]);
    const other = device(phone, store);
    for (const d of [admin, other, admin, other]) {
      await d.load();
      await d.sync();
    }
    await settle(host); // the devices keyring reaches the agent
    const doc = (n: number): JobRunsDoc => ({
      type: 'jobruns',
      job: 'j',
      host: me.id,
      hostname: 'h',
      jobAt: 1,
      installed: true,
      total: n,
      failures: 0,
      runs: [],
      at: n,
    });
    expect(await host.mailbox.putForDevices(doc(1), `${me.id}:j`, 1)).toBe(1);
    expect(await host.mailbox.putForDevices(doc(2), `${me.id}:j`, 2)).toBe(2);
    // A count lost (say the agent's marks were restored from an old backup): the store's answer gives the version.
    expect(await host.mailbox.putForDevices(doc(3), `${me.id}:j`, 1)).toBe(3);
    await other.sync();
    expect(other.docsOf('jobruns').map((d) => d.payload)).toEqual([expect.objectContaining({ job: 'j', total: 3 })]);
    expect((await host.mailbox.self())?.host).toMatchObject({ id: me.id, tags: { role: 'web' } });
  }, 30_000);
});

function flip(body: string): string {
  const bytes = Buffer.from(body, 'base64');
  const i = bytes.indexOf(Buffer.from('"ct":"')) + 10;
  bytes[i] = bytes[i] === 0x41 ? 0x42 : 0x41;
  return bytes.toString('base64');
}
