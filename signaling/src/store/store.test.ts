// The sealed store over real HTTP on loopback: versions and conflicts, who sees what, who is
// refused, quotas per fleet, expiry, the STORE push, hostile bodies, and SQLite across restarts.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { issueHostCert, issueRevocationList } from '../../../shared/identity/certs.ts';
import { generateSigningKeys } from '../../../shared/identity/crypto.ts';
import { addDevice, createIdentity, type DeviceIdentity, type Identity } from '../../../shared/identity/fleet.ts';
import { api, cleanUp, eventually, forge, makeCast, onCleanup, postRevocation, register, registered, start, type Msg } from '../test-support.ts';
import type { SignalingServerOptions } from '../server.ts';
import { STORE_BACKENDS, type StoreBackend } from './open.ts';
import { agentCredential, deviceCredential, listRecords, putRecord, record, ridsOf } from './test-support.ts';

let fleet: DeviceIdentity;
let otherFleet: DeviceIdentity;
let hostA: Identity;
let hostB: Identity;

beforeAll(async () => {
  ({ fleet, otherFleet, agent: hostA, agent2: hostB } = await makeCast());
}, 60_000); // RSA key generation on a busy machine
afterEach(cleanUp);

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-store-'));
  onCleanup(() => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));
  return dir;
}

/** Starts a server on `backend`; SQLite in a fresh data dir. */
async function startOn(backend: StoreBackend, options: SignalingServerOptions = {}): ReturnType<typeof start> {
  return start({ ...options, store: backend, ...(backend === 'sqlite' ? { dataDir: await tempDir() } : {}) });
}

describe.each(STORE_BACKENDS)('records and versions (%s)', (backend) => {
  it('stores, lists in seq order, pages, replaces on a higher version and refuses an equal or lower one', async () => {
    const { server } = await startOn(backend);
    const admin = await deviceCredential(fleet);
    const first = await putRecord(server, admin, fleet.fleetId, 'doc.a', record());
    expect(first).toMatchObject({ status: 200, body: { seq: expect.any(Number), version: 1, at: expect.any(Number) } });
    const body = randomBytes(300).toString('base64');
    await putRecord(server, admin, fleet.fleetId, 'doc.b', record({ body, kind: 'keyring' }));
    await putRecord(server, admin, fleet.fleetId, 'doc.c', record());

    const all = await listRecords(server, admin, fleet.fleetId);
    expect(ridsOf(all)).toEqual(['doc.a', 'doc.b', 'doc.c']);
    expect((all.body['records'] as Msg[])[1]).toEqual({
      rid: 'doc.b',
      kind: 'keyring',
      version: 1,
      to: ['*'],
      exp: expect.any(Number),
      by: fleet.id,
      seq: expect.any(Number),
      size: 300,
      at: expect.any(Number),
      body,
    });
    const page = await listRecords(server, admin, fleet.fleetId, 'limit=2');
    expect(ridsOf(page)).toEqual(['doc.a', 'doc.b']);
    expect(page.body).toMatchObject({ more: true, next: (page.body['records'] as Msg[])[1]?.['seq'] });
    const rest = await listRecords(server, admin, fleet.fleetId, `since=${String(page.body['next'])}`);
    expect(ridsOf(rest)).toEqual(['doc.c']);
    expect(rest.body['more']).toBe(false);

    const again = await putRecord(server, admin, fleet.fleetId, 'doc.a', record());
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'conflict', message: expect.stringContaining('version 1') } } });
    const v3 = await putRecord(server, admin, fleet.fleetId, 'doc.a', record({ version: 3 }));
    expect(v3).toMatchObject({ status: 200, body: { version: 3 } });
    expect(v3.body['seq']).toBeGreaterThan(Number(rest.body['next']));
    expect(await putRecord(server, admin, fleet.fleetId, 'doc.a', record({ version: 2 }))).toMatchObject({ status: 409 });
    // One record per rid: the new version moved to the end of the seq order.
    const latest = await listRecords(server, admin, fleet.fleetId);
    expect(ridsOf(latest)).toEqual(['doc.b', 'doc.c', 'doc.a']);
    expect((latest.body['records'] as Msg[])[2]).toMatchObject({ version: 3 });
    const nothing = await listRecords(server, admin, fleet.fleetId, `since=${String(latest.body['next'])}`);
    expect(nothing.body).toEqual({ records: [], next: latest.body['next'], more: false });
  });

  it('settles concurrent puts one by one: one of two equal versions wins, the others are unaffected', async () => {
    const { server } = await startOn(backend);
    const admin = await deviceCredential(fleet);
    const answers = await Promise.all([
      ...['c1', 'c2', 'c3', 'c4'].map((rid) => putRecord(server, admin, fleet.fleetId, rid, record())),
      putRecord(server, admin, fleet.fleetId, 'same', record({ version: 5 })),
      putRecord(server, admin, fleet.fleetId, 'same', record({ version: 5 })),
    ]);
    expect(answers.slice(0, 4).map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(
      answers
        .slice(4)
        .map((a) => a.status)
        .sort(),
    ).toEqual([200, 409]);
    const seqs = answers.filter((a) => a.status === 200).map((a) => Number(a.body['seq']));
    expect(new Set(seqs).size).toBe(5);
    expect(ridsOf(await listRecords(server, admin, fleet.fleetId)).sort()).toEqual(['c1', 'c2', 'c3', 'c4', 'same']);
  });

  it('shows each reader only records addressed to it, to everyone, or written by it', async () => {
    const { server } = await startOn(backend);
    const admin = await deviceCredential(fleet);
    const a = await agentCredential(fleet, hostA);
    const b = await agentCredential(fleet, hostB);
    expect((await putRecord(server, admin, fleet.fleetId, 'task.for-a', record({ kind: 'task', to: [hostA.id] }))).status).toBe(200);
    expect((await putRecord(server, admin, fleet.fleetId, 'doc.all', record())).status).toBe(200);
    expect((await putRecord(server, b, fleet.fleetId, 'result.from-b', record({ kind: 'result', to: [fleet.id] }))).status).toBe(200);
    expect((await putRecord(server, admin, fleet.fleetId, 'task.for-b', record({ kind: 'task', to: [hostB.id, hostA.id] }))).status).toBe(200);

    expect(ridsOf(await listRecords(server, a, fleet.fleetId))).toEqual(['task.for-a', 'doc.all', 'task.for-b']);
    expect(ridsOf(await listRecords(server, b, fleet.fleetId))).toEqual(['doc.all', 'result.from-b', 'task.for-b']);
    expect(ridsOf(await listRecords(server, admin, fleet.fleetId))).toEqual(['task.for-a', 'doc.all', 'result.from-b', 'task.for-b']);
    // A host's own record, rewritten for the device only, is still listed for its writer.
    expect(ridsOf(await listRecords(server, b, fleet.fleetId, 'limit=1'))).toEqual(['doc.all']);
  });

  it('lists records to "@devices" to device credentials only, and to their writer', async () => {
    const { server } = await startOn(backend);
    const admin = await deviceCredential(fleet);
    const a = await agentCredential(fleet, hostA);
    const b = await agentCredential(fleet, hostB);
    expect((await putRecord(server, a, fleet.fleetId, 'result.from-a', record({ kind: 'result', to: ['@devices'] }))).status).toBe(200);
    expect((await putRecord(server, admin, fleet.fleetId, 'task.for-b', record({ kind: 'task', to: [hostB.id, '@devices'] }))).status).toBe(200);
    expect(ridsOf(await listRecords(server, admin, fleet.fleetId))).toEqual(['result.from-a', 'task.for-b']);
    expect(ridsOf(await listRecords(server, a, fleet.fleetId))).toEqual(['result.from-a']);
    expect(ridsOf(await listRecords(server, b, fleet.fleetId))).toEqual(['task.for-b']);
    expect((await putRecord(server, admin, fleet.fleetId, 'bad', record({ to: ['@everyone'] }))).status).toBe(400);
  });

  it('pushes STORE to the connected recipients of the fleet only', async () => {
    const { server } = await startOn(backend);
    const admin = await deviceCredential(fleet);
    const peerA = await registered(server, hostA, fleet.fleetId);
    const peerB = await registered(server, hostB, fleet.fleetId);
    const stranger = await createIdentity(true);
    const peerOther = await registered(server, stranger, otherFleet.fleetId);
    const forA = await putRecord(server, admin, fleet.fleetId, 'task.1', record({ kind: 'task', to: [hostA.id] }));
    expect(await peerA.next('STORE')).toEqual({ type: 'STORE', payload: { fleet: fleet.fleetId, seq: forA.body['seq'] } });
    const forAll = await putRecord(server, admin, fleet.fleetId, 'doc.1', record());
    // B's first STORE is the record to everyone: it was told nothing about A's task.
    expect(await peerB.next('STORE')).toEqual({ type: 'STORE', payload: { fleet: fleet.fleetId, seq: forAll.body['seq'] } });
    expect(await peerA.next('STORE')).toEqual({ type: 'STORE', payload: { fleet: fleet.fleetId, seq: forAll.body['seq'] } });
    const otherAdmin = await deviceCredential(otherFleet);
    const theirs = await putRecord(server, otherAdmin, otherFleet.fleetId, 'doc.1', record());
    expect(await peerOther.next('STORE')).toEqual({ type: 'STORE', payload: { fleet: otherFleet.fleetId, seq: theirs.body['seq'] } });
  });
});

describe('credentials', () => {
  it('refuses another fleet, forged credentials and certificates, revoked devices and removed hosts', async () => {
    const { server } = await start();
    const fleetKey = fleet.fleetKeys?.privateKey;
    if (!fleetKey) throw new Error('the test fleet holds its key');
    const id = fleet.fleetId;
    const phone = await addDevice(fleet, 'phone', 'operator');
    const phoneToken = await deviceCredential(phone);
    const hostAToken = await agentCredential(fleet, hostA);
    expect((await putRecord(server, phoneToken, id, 'doc.p', record())).status).toBe(200);
    expect((await listRecords(server, hostAToken, id)).status).toBe(200);

    // Another fleet's member, on this fleet's URL, with its own credential or claiming this fleet.
    const stranger = await listRecords(server, await deviceCredential(otherFleet), id);
    expect(stranger).toMatchObject({ status: 403, body: { error: { code: 'not-in-fleet' } } });
    expect(await listRecords(server, await deviceCredential(otherFleet, id), id)).toMatchObject({ status: 403, body: { error: { code: 'not-in-fleet' } } });
    expect(await putRecord(server, await agentCredential(otherFleet, hostB), id, 'doc.x', record())).toMatchObject({ status: 403 });
    // A host certificate for this fleet signed by some other key, and one for other keys.
    const rogue = await generateSigningKeys(true);
    const forgedCert = await issueHostCert(rogue.privateKey, id, hostB.pub, fleet.id);
    expect(await listRecords(server, await agentCredential(fleet, hostB, forgedCert), id)).toMatchObject({
      status: 403,
      body: { error: { code: 'not-in-fleet' } },
    });
    const certOfA = await issueHostCert(fleetKey, id, hostA.pub, fleet.id);
    expect(await listRecords(server, await agentCredential(fleet, hostB, certOfA), id)).toMatchObject({
      status: 403,
      body: { error: { code: 'not-in-fleet' } },
    });
    // A credential re-signed by another key; a register credential; none at all.
    expect(await listRecords(server, await forge(hostAToken, rogue.privateKey), id)).toMatchObject({ status: 401, body: { error: { code: 'bad-token' } } });
    expect(await listRecords(server, await register(hostA, id), id)).toMatchObject({ status: 401, body: { error: { code: 'bad-token' } } });
    expect(await api(server, `/api/store/${id}`)).toMatchObject({ status: 401, body: { error: { code: 'bad-token' } } });

    // The phone is revoked and host A removed: both go on the fleet's revocation list.
    const list = await issueRevocationList(fleetKey, id, 1, [phone.id, hostA.id]);
    expect((await postRevocation(server, { fleetPub: fleet.fleetPub, list })).status).toBe(200);
    expect(await putRecord(server, phoneToken, id, 'doc.q', record())).toMatchObject({ status: 403, body: { error: { code: 'cert-revoked' } } });
    expect(await listRecords(server, hostAToken, id)).toMatchObject({ status: 403, body: { error: { code: 'cert-revoked' } } });
    expect((await listRecords(server, await agentCredential(fleet, hostB), id)).status).toBe(200);
  });
});

describe.each(STORE_BACKENDS)('limits (%s)', (backend) => {
  it('refuses a fleet over its record and byte quotas, naming the limit and flag, while another fleet keeps writing', async () => {
    const { server } = await startOn(backend, { limits: { storeMaxRecords: 3, storeMaxBytes: 1000 } });
    const mine = await deviceCredential(fleet);
    const theirs = await deviceCredential(otherFleet);
    for (const rid of ['r1', 'r2', 'r3']) expect((await putRecord(server, mine, fleet.fleetId, rid, record())).status).toBe(200);
    const over = await putRecord(server, mine, fleet.fleetId, 'r4', record());
    expect(over).toMatchObject({ status: 413, body: { error: { code: 'quota', message: expect.stringContaining('3 records (--store-max-records)') } } });
    // Replacing a record does not add one.
    expect((await putRecord(server, mine, fleet.fleetId, 'r1', record({ version: 2 }))).status).toBe(200);
    for (const rid of ['r1', 'r2', 'r3']) expect((await putRecord(server, theirs, otherFleet.fleetId, rid, record())).status).toBe(200);
    const big = await putRecord(server, mine, fleet.fleetId, 'r2', record({ version: 2, body: randomBytes(900).toString('base64') }));
    expect(big).toMatchObject({ status: 413, body: { error: { code: 'quota', message: expect.stringContaining('1000 bytes (--store-max-bytes)') } } });
    const stats = await api(server, `/api/store/${fleet.fleetId}/stats`, { headers: { Authorization: `Flotilla ${mine}` } });
    expect(stats).toEqual({ status: 200, body: { records: 3, bytes: 300, limits: { records: 3, bytes: 1000, ttlMs: 400 * 86_400_000 } } });
  });

  it('refuses a lifetime past --store-max-ttl, a body over 256 KiB, and writes over the per-fleet rate', async () => {
    const { server } = await startOn(backend, { limits: { storeWriteBurst: 5, storeWritesPerSecond: 0.01 } });
    const mine = await deviceCredential(fleet);
    const theirs = await deviceCredential(otherFleet);
    const far = await putRecord(server, mine, fleet.fleetId, 't1', record({ exp: Date.now() + 401 * 86_400_000 }));
    expect(far).toMatchObject({ status: 413, body: { error: { code: 'quota', message: expect.stringContaining('400 days (--store-max-ttl)') } } });
    const huge = await putRecord(server, mine, fleet.fleetId, 't2', record({ body: randomBytes(256 * 1024 + 1).toString('base64') }));
    expect(huge).toMatchObject({ status: 413, body: { error: { code: 'too-large' } } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await putRecord(server, mine, fleet.fleetId, `t${i + 3}`, record())).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const slow = await putRecord(server, mine, fleet.fleetId, 'tx', record());
    expect(slow).toMatchObject({
      status: 429,
      body: { error: { code: 'rate-limited', message: expect.stringContaining('fleet store writes: 0.01 per second, burst 5') } },
    });
    expect((await putRecord(server, theirs, otherFleet.fleetId, 't1', record())).status).toBe(200);
    expect((await listRecords(server, mine, fleet.fleetId)).status).toBe(200);
  });

  it('purges expired records on its timer and keeps their high-water versions', async () => {
    const { server, logs } = await startOn(backend, { storePurgeEveryMs: 50, limits: { storeMaxRecords: 1 } });
    const mine = await deviceCredential(fleet);
    expect((await putRecord(server, mine, fleet.fleetId, 'short', record({ exp: Date.now() + 400 }))).status).toBe(200);
    expect(ridsOf(await listRecords(server, mine, fleet.fleetId))).toEqual(['short']);
    await eventually(() => Promise.resolve(logs.some((line) => line.includes('"store.purged"') && line.includes('"records":1'))));
    expect(ridsOf(await listRecords(server, mine, fleet.fleetId))).toEqual([]);
    // The quota of one record is free again, and the purged rid cannot be rolled back.
    expect((await putRecord(server, mine, fleet.fleetId, 'next', record())).status).toBe(200);
    const replay = await putRecord(server, mine, fleet.fleetId, 'short', record());
    expect(replay).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
  });

  it('hides and purges expired records on read, before its timer runs', async () => {
    const { server } = await startOn(backend);
    const mine = await deviceCredential(fleet);
    const exp = Date.now() + 300;
    expect((await putRecord(server, mine, fleet.fleetId, 'soon', record({ exp }))).status).toBe(200);
    expect((await putRecord(server, mine, fleet.fleetId, 'later', record())).status).toBe(200);
    expect(ridsOf(await listRecords(server, mine, fleet.fleetId))).toEqual(['soon', 'later']);
    await eventually(() => Promise.resolve(Date.now() > exp));
    expect(ridsOf(await listRecords(server, mine, fleet.fleetId))).toEqual(['later']);
    const stats = await api(server, `/api/store/${fleet.fleetId}/stats`, { headers: { Authorization: `Flotilla ${mine}` } });
    expect(stats.body).toMatchObject({ records: 1, bytes: 100 });
  });
});

describe('hostile input', () => {
  it('answers a few hundred malformed bodies, rids and queries with 4xx and keeps serving', async () => {
    const { server } = await startOn('sqlite', { limits: { storeWriteBurst: 10_000, storeRequestBurstPerIp: 10_000 } });
    const mine = await deviceCredential(fleet);
    const good = record();
    const values: unknown[] = [null, true, 0, -1, 1.5, 2 ** 60, '', 'x', '*', [], ['*', fleet.id], [fleet.id, fleet.id], {}, { a: 1 }, 'A'.repeat(70_000)];
    const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)] as T;
    const bodies: string[] = [];
    for (let i = 0; i < 300; i++) {
      const variant = i % 4;
      if (variant === 0) bodies.push(randomBytes(1 + Math.floor(Math.random() * 200)).toString(pick(['latin1', 'base64', 'hex'])));
      else if (variant === 1) bodies.push(JSON.stringify(pick(values)));
      else {
        // A valid record with one or two fields replaced, or dropped.
        const mutated: Msg = { ...good };
        for (const key of [pick(Object.keys(good)), variant === 3 ? pick(['exp', 'kind', 'to']) : 'version']) {
          if (Math.random() < 0.2) delete mutated[key];
          else mutated[key] = pick([...values, 'doc', 'bm90IGEgcmVjb3Jk=', 'not base64!', Date.now() - 1, 0]);
        }
        bodies.push(JSON.stringify(mutated));
      }
    }
    const statuses = new Map<number, number>();
    for (const [i, body] of bodies.entries()) {
      const answer = await putRecord(server, mine, fleet.fleetId, pick(['doc.fuzz', `f${i}`, 'x'.repeat(65), 'a b', '..', 'ü']), body);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status !== 200) expect(answer.body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    }
    for (const query of ['since=-1', 'since=x', 'limit=0', 'limit=501', 'since=1&since=2', 'limit=1e3', `since=${'9'.repeat(30)}`]) {
      const answer = await listRecords(server, mine, fleet.fleetId, query);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    }
    const codes = [...statuses.keys()];
    expect(
      codes.every((status) => status === 200 || (status >= 400 && status < 500)),
      JSON.stringify([...statuses]),
    ).toBe(true);
    expect(statuses.get(400)).toBeGreaterThan(100);
    expect((await api(server, '/healthz')).status).toBe(200);
    expect((await putRecord(server, mine, fleet.fleetId, 'after', record())).status).toBe(200);
  });
});

describe('backends', () => {
  it('keeps records, seqs and high-water versions in <data-dir>/store.sqlite across a restart', async () => {
    const dataDir = await tempDir();
    const first = await start({ dataDir });
    const mine = await deviceCredential(fleet);
    const a = await agentCredential(fleet, hostA);
    await putRecord(first.server, mine, fleet.fleetId, 'doc.1', record({ version: 4 }));
    const last = await putRecord(first.server, mine, fleet.fleetId, 'task.a', record({ kind: 'task', to: [hostA.id] }));
    await first.server.close();

    const second = await start({ dataDir });
    expect(ridsOf(await listRecords(second.server, mine, fleet.fleetId))).toEqual(['doc.1', 'task.a']);
    expect(ridsOf(await listRecords(second.server, a, fleet.fleetId))).toEqual(['doc.1', 'task.a']);
    expect(ridsOf(await listRecords(second.server, await agentCredential(fleet, hostB), fleet.fleetId))).toEqual(['doc.1']);
    expect(await putRecord(second.server, mine, fleet.fleetId, 'doc.1', record({ version: 4 }))).toMatchObject({ status: 409 });
    const next = await putRecord(second.server, mine, fleet.fleetId, 'doc.2', record());
    expect(next.body['seq']).toBeGreaterThan(Number(last.body['seq']));
    const stats = await api(second.server, `/api/store/${fleet.fleetId}/stats`, { headers: { Authorization: `Flotilla ${mine}` } });
    expect(stats.body).toMatchObject({ records: 3, bytes: 300 });
  });

  it('hands out seqs above those clients hold after a memory restart or a restore from an older backup', async () => {
    const mine = await deviceCredential(fleet);
    const memory = await start({ store: 'memory' });
    const before = await putRecord(memory.server, mine, fleet.fleetId, 'm', record());
    await memory.server.close();
    const restarted = await start({ store: 'memory' });
    const after = await putRecord(restarted.server, mine, fleet.fleetId, 'm', record());
    expect(after.body['seq']).toBeGreaterThan(Number(before.body['seq']));

    const dataDir = await tempDir();
    const first = await start({ dataDir });
    await putRecord(first.server, mine, fleet.fleetId, 'a', record());
    await first.server.close();
    await copyFile(join(dataDir, 'store.sqlite'), join(dataDir, 'backup.sqlite'));
    const second = await start({ dataDir });
    const late = await putRecord(second.server, mine, fleet.fleetId, 'b', record());
    await second.server.close();
    await rename(join(dataDir, 'backup.sqlite'), join(dataDir, 'store.sqlite'));
    const restored = await start({ dataDir });
    expect(ridsOf(await listRecords(restored.server, mine, fleet.fleetId))).toEqual(['a']);
    const next = await putRecord(restored.server, mine, fleet.fleetId, 'c', record());
    expect(next.body['seq']).toBeGreaterThan(Number(late.body['seq']));
  });

  it('loads better-sqlite3 only for --store sqlite', async () => {
    const dataDir = await tempDir();
    const mapsOf = async (args: string[]): Promise<string> => {
      const child = spawn(
        process.execPath,
        [resolve(import.meta.dirname, '../../../bin/flotilla-signal.js'), '--host', '127.0.0.1', '--port', '0', '--stun-port', '0', ...args],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const exited = new Promise((done) => child.once('exit', done));
      onCleanup(async () => {
        child.kill('SIGKILL');
        await exited;
      });
      await new Promise<void>((done) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('signal.listening')) done();
        });
      });
      return readFile(`/proc/${String(child.pid)}/maps`, 'utf8');
    };
    expect(await mapsOf(['--store', 'memory', '--data-dir', dataDir])).not.toContain('better_sqlite3.node');
    expect(await mapsOf(['--store', 'sqlite', '--data-dir', dataDir])).toContain('better_sqlite3.node');
  });
});
