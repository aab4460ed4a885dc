// One fleet state on two devices through a store, the conflict rule, and a hostile store.

import { beforeAll, describe, expect, it } from 'vitest';
import { addDevice, createFleet, createIdentity, type DeviceIdentity } from '../identity/fleet.ts';
import { issueHostCert, issueRevocationList, type RevocationList } from '../identity/certs.ts';
import { fromBase64, fromUtf8, toBase64, utf8 } from '../wire/encoding.ts';
import { FleetSync, deviceMember, type SyncSnapshot } from './fleet-sync.ts';
import { createTestStore, type TestStore } from './test-store.ts';
import { sealRecord } from './envelope.ts';
import { storePut } from './client.ts';

let laptop: DeviceIdentity;
let phone: DeviceIdentity;
let wallboard: DeviceIdentity;

const SIGNAL = 'http://store.test/';

function device(d: DeviceIdentity, store: TestStore, revocation?: () => RevocationList | undefined, now?: () => number): FleetSync {
  let kept: SyncSnapshot | undefined;
  return new FleetSync({
    signal: SIGNAL,
    member: deviceMember(d),
    cache: {
      load: async () => (kept ? structuredClone(kept) : undefined),
      save: async (s) => {
        kept = structuredClone(s);
      },
    },
    revocation: revocation ?? (() => undefined),
    http: store.http,
    ...(now ? { now } : {}),
  });
}

beforeAll(async () => {
  laptop = await createFleet('laptop', true);
  [phone, wallboard] = await Promise.all([addDevice(laptop, 'phone', 'admin'), addDevice(laptop, 'wallboard', 'viewer')]);
});

describe('fleet state through the store', () => {
  it('shows two devices the same hosts and tokens, including what one wrote before the other joined', async () => {
    const store = createTestStore();
    const a = device(laptop, store);
    await a.load();
    await a.sync(); // creates both keyrings and announces the laptop
    const host = await createIdentity(true);
    const cert = await issueHostCert(laptop.fleetKeys!.privateKey, laptop.fleetId, host.pub, laptop.id);
    expect(await a.write({ type: 'host', host: host.id, decision: 'rejected', name: 'web-9', at: 1000 }, host.id)).toBe(true);

    const b = device(phone, store);
    await b.load();
    await b.sync(); // announces itself; cannot read the laptop's documents yet
    expect(b.hosts().size).toBe(0);
    await a.sync(); // the admin laptop sees the announcement and adds the phone to the keyrings
    await b.sync();
    expect(b.hosts().get(host.id)).toMatchObject({ decision: 'rejected', name: 'web-9', by: 'laptop' });
    expect(
      b
        .devices()
        .map((d) => d.name)
        .sort(),
    ).toEqual(['laptop', 'phone']);

    await b.write({ type: 'token', tid: 't1', token: 'flt1.secret', uses: 1, used: [], revoked: false, exp: Date.now() + 60_000, at: 2000 }, 't1');
    await a.sync();
    expect(a.tokens().map((t) => t.tid)).toEqual(['t1']);
    // Accepted later on the phone, with the host certificate: the laptop sees the change.
    await b.write({ type: 'host', host: host.id, decision: 'accepted', cert, name: 'web-9', at: 3000 }, host.id);
    await a.sync();
    expect(a.hosts().get(host.id)?.decision).toBe('accepted');

    // The store learns ids, sizes and times: no name, command or token text in anything it holds.
    const stored = JSON.stringify([...store.records.values()].map((r) => ({ ...r, body: fromUtf8(fromBase64(r.body)!) })));
    expect(stored).not.toContain('web-9');
    expect(stored).not.toContain('flt1.secret');
    // Nothing honest was refused: not even the admin's own keyring writes, listed back to it.
    expect([...a.refusals(), ...b.refusals()]).toEqual([]);
  });

  it('resolves two devices changing one document offline: the later change wins, the earlier one is dropped', async () => {
    const store = createTestStore();
    const a = device(laptop, store);
    const b = device(phone, store);
    for (const d of [a, b, a, b]) {
      await d.load();
      await d.sync();
    }
    const host = (await createIdentity(true)).id;
    await a.write({ type: 'host', host, decision: 'accepted', at: 1000 }, host);
    await b.sync();
    // Both change version 1 while offline; the phone's change is the later one but reaches the store second.
    const laptopWins = await a.write({ type: 'host', host, decision: 'rejected', at: 2000 }, host);
    const phoneWins = await b.write({ type: 'host', host, decision: 'removed', at: 3000 }, host);
    expect([laptopWins, phoneWins]).toEqual([true, true]);
    await a.sync();
    expect(a.hosts().get(host)?.decision).toBe('removed');
    // An older offline change arriving last loses and says so.
    expect(
      await a
        .write({ type: 'host', host, decision: 'accepted', at: 2500 }, host)
        .then(async () => b.write({ type: 'host', host, decision: 'rejected', at: 2400 }, host)),
    ).toBe(false);
    await b.sync();
    expect(b.hosts().get(host)?.decision).toBe('accepted');
  });

  it('refuses what a hostile store serves: a flipped bit, an older version replayed, a viewer’s document, a revoked device’s', async () => {
    const store = createTestStore();
    const trust: { revocation?: RevocationList } = {};
    const a = device(laptop, store, () => trust.revocation);
    await a.load();
    await a.sync();
    const host = (await createIdentity(true)).id;
    await a.write({ type: 'host', host, decision: 'accepted', name: 'v1', at: 1 }, host);
    const [rid] = [...store.records.keys()].filter((r) => r.startsWith('dh.'));
    const first = structuredClone(store.records.get(rid!)!);
    await a.write({ type: 'host', host, decision: 'accepted', name: 'v2', at: 2 }, host);

    const b = device(phone, store, () => trust.revocation);
    await b.load();
    await b.sync();
    await a.sync();
    await b.sync();
    expect(b.hosts().get(host)?.name).toBe('v2');

    // The store serves version 1 again as new: refused, the newer version stays.
    store.replay(first);
    await b.sync();
    expect(b.hosts().get(host)?.name).toBe('v2');
    expect(b.refusals()[0]?.reason).toMatch(/older than version 2/);

    // A flipped bit in a new record.
    store.tamper = (r) => {
      if (!r.rid.startsWith('ds.')) return r;
      const envelope = JSON.parse(fromUtf8(fromBase64(r.body)!)) as { ct: string };
      envelope.ct = envelope.ct.startsWith('A') ? `B${envelope.ct.slice(1)}` : `A${envelope.ct.slice(1)}`;
      return { ...r, body: toBase64(utf8(JSON.stringify(envelope))) };
    };
    await a.write({ type: 'selector', name: 'web', expr: 'web-*', deleted: false, at: 5 }, 'web');
    await b.sync();
    expect(b.selectors()).toEqual([]);
    expect(b.refusals()[0]?.reason).toMatch(/signature/);
    delete store.tamper;

    // A viewer's document and a revoked device's document.
    const member = {
      id: wallboard.id,
      keys: wallboard.keys,
      pub: wallboard.pub,
      kind: 'device' as const,
      fleetId: laptop.fleetId,
      fleetPub: laptop.fleetPub,
      cert: wallboard.cert,
    };
    const forged = await sealRecord(member, {
      fleet: laptop.fleetId,
      rid: 'ds.forged',
      kind: 'doc',
      version: 1,
      to: ['*'],
      payload: { type: 'selector', name: 'all', expr: '*', deleted: false, at: 6 },
      recipients: { direct: [{ id: phone.id, encPub: phone.pub.encPub }] },
    });
    await storePut(SIGNAL, member, forged.record, store.http);
    await b.sync();
    expect(b.selectors()).toEqual([]);
    expect(b.refusals()[0]?.reason).toMatch(/a viewer device may not write a doc record/);

    trust.revocation = await issueRevocationList(laptop.fleetKeys!.privateKey, laptop.fleetId, 1, [laptop.id]);
    await a.write({ type: 'selector', name: 'db', expr: 'db-*', deleted: false, at: 7 }, 'db').catch(() => undefined);
    await b.sync();
    expect(b.selectors().map((s) => s.name)).not.toContain('db');
    expect(b.refusals()[0]?.reason).toMatch(/cert-revoked/);
  });
});

describe('queued tasks', () => {
  it('seals a direct task for its host and the devices, lists it queued, then expired or cancelled', async () => {
    const store = createTestStore();
    let clock = 1_000_000;
    const a = device(laptop, store, undefined, () => clock);
    const b = device(phone, store, undefined, () => clock);
    for (const d of [a, b, a, b]) {
      await d.load();
      await d.sync();
    }
    const [h1, h2] = await Promise.all([createIdentity(true), createIdentity(true)]);
    const request = { type: 'exec', task: 'task-1', command: 'uname -a' };
    const hosts = [h1, h2].map((h) => ({ id: h.id, encPub: h.pub.encPub }));
    await a.queueTask({ task: 'task-1', request, summary: 'uname -a', selector: '*', deadline: clock + 60_000, deviceName: 'laptop' }, { hosts });
    const records = [...store.records.values()].filter((r) => r.kind === 'task');
    expect(records).toHaveLength(2);
    // Listed only for its host and the devices; opened by its host, not by the other one.
    expect(records[0]?.to).toEqual([h1.id, '@devices']);
    expect(records[0]?.to).not.toContain(h2.id);

    await b.sync();
    expect(b.queue()[0]).toMatchObject({ task: 'task-1', by: 'laptop', hosts: [{ state: 'queued' }, { state: 'queued' }] });
    expect(await b.cancelTask('task-1')).toBe(2);
    await a.sync();
    expect(a.queue()[0]?.hosts.map((h) => h.state)).toEqual(['cancelled', 'cancelled']);

    await a.queueTask(
      { task: 'task-2', request: { ...request, task: 'task-2' }, summary: 'uname -a', selector: '*', deadline: clock + 60_000, deviceName: 'laptop' },
      { hosts },
    );
    clock += 61_000;
    expect(
      a
        .queue()
        .find((q) => q.task === 'task-2')
        ?.hosts.map((h) => h.state),
    ).toEqual(['expired', 'expired']);
    // The store is told to drop them at the deadline.
    expect([...store.records.values()].filter((r) => r.kind === 'task').every((r) => r.exp !== undefined)).toBe(true);
  });
});
