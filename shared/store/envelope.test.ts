// Sealed store records against a hostile store: whatever the server changes, readers refuse it.

import { beforeAll, describe, expect, it } from 'vitest';
import { addDevice, createFleet, createIdentity, type DeviceIdentity, type Identity } from '../identity/fleet.ts';
import { issueHostCert, issueRevocationList, type HostCert } from '../identity/certs.ts';
import { fromBase64, fromUtf8, toBase64, utf8 } from '../wire/encoding.ts';
import { FlotillaError } from '../wire/errors.ts';
import { checkWriterRole, openPayload, sealRecord, verifyRecord, type FleetTrust, type StoredRecord, type Writer } from './envelope.ts';
import { addMembers, createKeyring, epochKeys, openKeyring, rotateKeyring, scopeSealKey } from './keyring.ts';

let admin: DeviceIdentity;
let viewer: DeviceIdentity;
let hostA: Identity & { cert: HostCert };
let hostB: Identity & { cert: HostCert };
let trust: FleetTrust;

async function host(): Promise<Identity & { cert: HostCert }> {
  const id = await createIdentity(true);
  return { ...id, cert: await issueHostCert(admin.fleetKeys!.privateKey, admin.fleetId, id.pub, admin.id) };
}

const writer = (d: DeviceIdentity | (Identity & { cert: HostCert })): Writer => ({ keys: d.keys, cert: d.cert });

async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    expect(error).toBeInstanceOf(FlotillaError);
    return `${(error as FlotillaError).code}: ${(error as FlotillaError).detail ?? ''}`;
  }
  return 'accepted';
}

/** Rewrites one field of the envelope inside a stored body, as a hostile server could. */
function tamper(record: StoredRecord, change: (envelope: Record<string, unknown>) => void): StoredRecord {
  const envelope = JSON.parse(fromUtf8(fromBase64(record.body)!)) as Record<string, unknown>;
  change(envelope);
  return { ...record, body: toBase64(utf8(JSON.stringify(envelope))) };
}

beforeAll(async () => {
  admin = await createFleet('laptop', true);
  viewer = await addDevice(admin, 'wallboard', 'viewer');
  [hostA, hostB] = await Promise.all([host(), host()]);
  trust = { fleetId: admin.fleetId, fleetPub: admin.fleetPub };
});

describe('sealed records', () => {
  it('opens for its recipient only, and refuses every change the store could make', async () => {
    const { record } = await sealRecord(writer(admin), {
      fleet: admin.fleetId,
      rid: 't.one',
      kind: 'task',
      version: 1,
      to: [hostA.id],
      payload: { type: 'task', command: 'uname -a' },
      recipients: { direct: [{ id: hostA.id, encPub: hostA.pub.encPub }] },
    });
    const { envelope, signer } = await verifyRecord(record, trust);
    expect(signer).toMatchObject({ id: admin.id, kind: 'device', role: 'admin' });
    expect((await openPayload(envelope, { id: hostA.id, encPriv: hostA.keys.enc.privateKey }))?.payload).toEqual({ type: 'task', command: 'uname -a' });
    expect(await openPayload(envelope, { id: hostB.id, encPriv: hostB.keys.enc.privateKey })).toBeUndefined();

    // Moved to another recipient, rid, version or fleet: the outer fields no longer match what was signed.
    expect(await refusal(verifyRecord({ ...record, to: [hostB.id] }, trust))).toMatch(/bad-record: .*recipients/);
    expect(await refusal(verifyRecord({ ...record, rid: 't.two' }, trust))).toMatch(/record id/);
    expect(await refusal(verifyRecord({ ...record, version: 2 }, trust))).toMatch(/version/);
    // Written without an expiry: the server lists it with its maximum TTL, which changes nothing signed.
    expect(record.exp).toBeUndefined();
    await verifyRecord({ ...record, exp: Date.now() + 400 * 86_400_000 }, trust);
    // Written with one (a queued task's deadline): another expiry is a move.
    const deadline = Date.now() + 86_400_000;
    const timed = (
      await sealRecord(writer(admin), {
        fleet: admin.fleetId,
        rid: 't.timed',
        kind: 'task',
        version: 1,
        to: [hostA.id],
        exp: deadline,
        payload: { type: 'task', command: 'uname -a' },
        recipients: { direct: [{ id: hostA.id, encPub: hostA.pub.encPub }] },
      })
    ).record;
    await verifyRecord(timed, trust);
    expect(await refusal(verifyRecord({ ...timed, exp: deadline + 86_400_000 }, trust))).toMatch(/expiry/);
    const untimed = { ...timed };
    delete untimed.exp;
    expect(await refusal(verifyRecord(untimed, trust))).toMatch(/expiry/);
    const other = await createFleet('elsewhere', true);
    expect(await refusal(verifyRecord(record, { fleetId: other.fleetId, fleetPub: other.fleetPub }))).toMatch(/fleet/);
    // Moved inside the envelope too: the signature breaks.
    const movedInside = tamper({ ...record, to: [hostB.id] }, (e) => (e['to'] = [hostB.id]));
    expect(await refusal(verifyRecord(movedInside, trust))).toMatch(/signature/);
    // A bit flipped in the ciphertext: the signature breaks before decryption is tried.
    expect(
      await refusal(
        verifyRecord(
          tamper(record, (e) => {
            const ct = fromBase64(e['ct'] as string)!;
            ct[3] = (ct[3] ?? 0) ^ 1;
            e['ct'] = toBase64(ct);
          }),
          trust,
        ),
      ),
    ).toMatch(/signature/);
    // Not base64, not JSON, not an envelope.
    expect(await refusal(verifyRecord({ ...record, body: '%%%' }, trust))).toMatch(/bad-record/);
    expect(await refusal(verifyRecord({ ...record, body: toBase64(utf8('{"v":1}')) }, trust))).toMatch(/bad-record/);
  });

  it('refuses a revoked signer, a self-made certificate, and writers whose role does not allow the kind', async () => {
    const operator = await addDevice(admin, 'phone', 'operator');
    const seal = (w: Writer, kind: 'doc' | 'keyring' | 'result') =>
      sealRecord(w, {
        fleet: admin.fleetId,
        rid: 'd.x',
        kind,
        version: 1,
        to: ['*'],
        payload: {},
        recipients: { direct: [{ id: admin.id, encPub: admin.pub.encPub }] },
      });
    const { record } = await seal(writer(operator), 'doc');
    const revocation = await issueRevocationList(admin.fleetKeys!.privateKey, admin.fleetId, 1, [operator.id]);
    expect(await refusal(verifyRecord(record, { ...trust, revocation }))).toMatch(/bad-record: signer refused: cert-revoked/);

    const stranger = await createFleet('stranger', true);
    const forged = await seal({ keys: stranger.keys, cert: { ...stranger.cert, body: { ...stranger.cert.body, fleet: admin.fleetId } } }, 'doc');
    expect(await refusal(verifyRecord(forged.record, trust))).toMatch(/signer refused: not-in-fleet/);

    const byViewer = await verifyRecord((await seal(writer(viewer), 'doc')).record, trust);
    expect(() => checkWriterRole('doc', byViewer.signer)).toThrow(/a viewer device may not write a doc record/);
    const byHost = await verifyRecord((await seal(writer(hostA), 'keyring')).record, trust);
    expect(() => checkWriterRole('keyring', byHost.signer)).toThrow(/a host may not write a keyring/);
    expect(() => checkWriterRole('result', byHost.signer)).not.toThrow();

    // A removed host (on the revocation list) can no longer sign anything readers accept.
    const removed = await issueRevocationList(admin.fleetKeys!.privateKey, admin.fleetId, 2, [hostA.id]);
    expect(await refusal(verifyRecord((await seal(writer(hostA), 'result')).record, { ...trust, revocation: removed }))).toMatch(/removed/);
  });
});

describe('keyrings', () => {
  it('lets members open scope records, adds members, and shuts out a removed host after rotation', async () => {
    const members = { [admin.id]: admin.pub.encPub, [hostA.id]: hostA.pub.encPub, [hostB.id]: hostB.pub.encPub };
    const first = await createKeyring(writer(admin), admin.fleetId, 'fleet', members);
    const header = (await verifyRecord(first.record, trust)).envelope;
    const readerB = { id: hostB.id, encPriv: hostB.keys.enc.privateKey };
    const ringB = await openKeyring(header, readerB);
    expect(ringB?.epoch).toBe(1);

    const sealFor = async (rid: string) =>
      (
        await sealRecord(writer(admin), {
          fleet: admin.fleetId,
          rid,
          kind: 'doc',
          version: 1,
          to: ['*'],
          payload: { rid },
          recipients: { scopes: [await scopeSealKey(header)] },
        })
      ).record;
    const before = await sealFor('d.before');
    const keysB = await epochKeys(ringB!);
    const openAsB = async (record: StoredRecord, keys: Map<number, CryptoKey>) =>
      openPayload((await verifyRecord(record, trust)).envelope, { ...readerB, scopeKey: (_s, e) => keys.get(e) });
    expect((await openAsB(before, keysB))?.payload).toEqual({ rid: 'd.before' });

    // A viewer added later reads the same epoch.
    const ringAdmin = (await openKeyring(header, { id: admin.id, encPriv: admin.keys.enc.privateKey }))!;
    const added = await addMembers(writer(admin), admin.fleetId, ringAdmin, { [viewer.id]: viewer.pub.encPub });
    const ringViewer = await openKeyring((await verifyRecord(added.record, trust)).envelope, { id: viewer.id, encPriv: viewer.keys.enc.privateKey });
    expect(ringViewer).toMatchObject({ epoch: 1, version: 2 });

    // Host B removed: epoch 2; B cannot open the new keyring nor what is sealed after it, but A reads both epochs.
    const rotated = await rotateKeyring(writer(admin), admin.fleetId, added.keyring, [hostB.id]);
    const rotatedHeader = (await verifyRecord(rotated.record, trust)).envelope;
    expect(await openKeyring(rotatedHeader, readerB)).toBeUndefined();
    const after = (
      await sealRecord(writer(admin), {
        fleet: admin.fleetId,
        rid: 'd.after',
        kind: 'doc',
        version: 1,
        to: ['*'],
        payload: { secret: 'after removal' },
        recipients: { scopes: [await scopeSealKey(rotatedHeader)] },
      })
    ).record;
    expect(await openAsB(after, keysB)).toBeUndefined();
    const ringA = (await openKeyring(rotatedHeader, { id: hostA.id, encPriv: hostA.keys.enc.privateKey }))!;
    const keysA = await epochKeys(ringA);
    const readerA = { id: hostA.id, encPriv: hostA.keys.enc.privateKey, scopeKey: (_s: string, e: number) => keysA.get(e) };
    expect((await openPayload((await verifyRecord(after, trust)).envelope, readerA))?.payload).toEqual({ secret: 'after removal' });
    expect((await openPayload((await verifyRecord(before, trust)).envelope, readerA))?.payload).toEqual({ rid: 'd.before' });
  });
});
