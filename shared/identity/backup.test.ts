import { beforeAll, describe, expect, test } from 'vitest';
import { BACKUP_ITERATIONS, BACKUP_PREFIX, WRONG_PASSPHRASE, deviceFromFleetKeys, exportFleetBackup, importFleetBackup } from './backup.ts';
import { createFleet, type DeviceIdentity } from './fleet.ts';
import { issueDeviceCert, issueHostCert, verifyDeviceCert, verifyHostCert } from './certs.ts';
import { fromBase64, fromUtf8, toBase64, toBase64Url, utf8 } from '../wire/encoding.ts';
import { FlotillaError } from '../wire/errors.ts';
import { createIdentity } from './fleet.ts';

const PASS = 'correct horse battery staple';
const SIGNAL = 'http://127.0.0.1:9000/';

function decode(text: string): Record<string, unknown> {
  return JSON.parse(fromUtf8(fromBase64(text.slice(BACKUP_PREFIX.length))!)) as Record<string, unknown>;
}
function encode(body: unknown): string {
  return BACKUP_PREFIX + toBase64Url(utf8(JSON.stringify(body)));
}
async function refusal(promise: Promise<unknown>): Promise<FlotillaError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FlotillaError);
  expect((error as FlotillaError).code).toBe('bad-backup');
  return error as FlotillaError;
}

describe('fleet backup', () => {
  let admin: DeviceIdentity;
  let backup: string;

  beforeAll(async () => {
    admin = await createFleet('cli', true);
    backup = await exportFleetBackup(admin.fleetKeys!, admin.fleetPub, SIGNAL, PASS);
  }, 30_000);

  test('carries the public facts and kdf parameters in the clear, and never the private key', () => {
    expect(backup.startsWith(BACKUP_PREFIX)).toBe(true);
    expect(backup).toMatch(/^flb1\.[A-Za-z0-9_-]+$/);
    const body = decode(backup);
    expect(body).toMatchObject({
      v: 1,
      kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations: BACKUP_ITERATIONS },
      fleetPub: admin.fleetPub,
      fleet: admin.fleetId,
      signal: SIGNAL,
    });
    expect(BACKUP_ITERATIONS).toBeGreaterThanOrEqual(310_000);
    expect(fromBase64(body['salt'] as string)).toHaveLength(16);
    expect(fromBase64(body['iv'] as string)).toHaveLength(12);
    expect(JSON.stringify(body)).not.toContain('"d"');
  });

  test('round trip: the imported key verifies what the original issued, and the original verifies what it issues', async () => {
    const imported = await importFleetBackup(`  ${backup}\n`, PASS, false);
    expect(imported.fleetId).toBe(admin.fleetId);
    expect(imported.fleetPub).toBe(admin.fleetPub);
    expect(imported.signal).toBe(SIGNAL);
    expect(imported.fleetKeys.privateKey.extractable).toBe(false);
    // A certificate signed before the export still verifies against the imported fleet.
    await expect(verifyDeviceCert(admin.cert, imported.fleetPub, imported.fleetId)).resolves.toMatchObject({ id: admin.id, role: 'admin' });
    // What the imported key signs verifies against the original fleet key.
    const agent = await createIdentity(true);
    const hostCert = await issueHostCert(imported.fleetKeys.privateKey, imported.fleetId, agent.pub, admin.id);
    await expect(verifyHostCert(hostCert, admin.fleetPub, admin.fleetId, agent.pub)).resolves.toMatchObject({ id: agent.id });
    const other = await createIdentity(true);
    const cert = await issueDeviceCert(imported.fleetKeys.privateKey, imported.fleetId, other.pub, 'phone', 'viewer');
    await expect(verifyDeviceCert(cert, admin.fleetPub, admin.fleetId)).resolves.toMatchObject({ role: 'viewer' });
  }, 30_000);

  test('deviceFromFleetKeys makes a new admin device of the same fleet', async () => {
    const imported = await importFleetBackup(backup, PASS, true);
    const device = await deviceFromFleetKeys(imported.fleetKeys, imported.fleetPub, 'restored', false);
    expect(device.id).not.toBe(admin.id);
    expect(device.fleetId).toBe(admin.fleetId);
    expect(device.fleetKeys).toBe(imported.fleetKeys);
    expect(device.keys.sign.privateKey.extractable).toBe(false);
    const body = await verifyDeviceCert(device.cert, admin.fleetPub, admin.fleetId, { presented: device.pub });
    expect(body).toMatchObject({ id: device.id, name: 'restored', role: 'admin' });
    // An extractable import can be exported again.
    const again = await exportFleetBackup(imported.fleetKeys, imported.fleetPub, imported.signal, 'another passphrase');
    expect((await importFleetBackup(again, 'another passphrase', false)).fleetId).toBe(admin.fleetId);
  }, 30_000);

  test('a wrong passphrase is refused with a clear reason', async () => {
    const error = await refusal(importFleetBackup(backup, 'not the passphrase', false));
    expect(error.detail).toBe(WRONG_PASSPHRASE);
    expect((await refusal(importFleetBackup(backup, '', false))).detail).toMatch(/passphrase/);
  }, 30_000);

  test('a tampered ciphertext, salt, iv or public field is refused', async () => {
    const body = decode(backup);
    const ct = fromBase64(body['ct'] as string)!;
    ct[10] = ct[10]! ^ 1;
    expect((await refusal(importFleetBackup(encode({ ...body, ct: toBase64(ct) }), PASS, false))).detail).toBe(WRONG_PASSPHRASE);
    const iv = fromBase64(body['iv'] as string)!;
    iv[0] = iv[0]! ^ 1;
    expect((await refusal(importFleetBackup(encode({ ...body, iv: toBase64(iv) }), PASS, false))).detail).toBe(WRONG_PASSPHRASE);
    // The signaling URL is not secret but is authenticated: a link cannot point elsewhere.
    expect((await refusal(importFleetBackup(encode({ ...body, signal: 'https://evil.example/' }), PASS, false))).detail).toBe(WRONG_PASSPHRASE);
    // Swapping in another fleet's public key (and its id) does not pass either.
    const other = await createFleet('other', true);
    const swapped = await refusal(importFleetBackup(encode({ ...body, fleetPub: other.fleetPub, fleet: other.fleetId }), PASS, false));
    expect(swapped.detail).toBe(WRONG_PASSPHRASE);
    expect((await refusal(importFleetBackup(encode({ ...body, fleet: other.fleetId }), PASS, false))).detail).toMatch(/fleet id/);
  }, 60_000);

  test('malformed text is refused before any key derivation', async () => {
    const body = decode(backup);
    const cases: [string, RegExp][] = [
      ['', /start with flb1\./],
      ['flt1.abc', /start with flb1\./],
      ['flb1.', /damaged/],
      ['flb1.!!!', /base64url/],
      [BACKUP_PREFIX + toBase64Url(utf8('not json')), /damaged/],
      [encode([]), /malformed/],
      [encode({ ...body, v: 2 }), /another version/],
      [encode({ ...body, kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations: 1000 } }), /iterations/],
      [encode({ ...body, kdf: { name: 'PBKDF2', hash: 'SHA-256', iterations: 1e9 } }), /iterations/],
      [encode({ ...body, kdf: { name: 'scrypt', hash: 'SHA-256', iterations: BACKUP_ITERATIONS } }), /name/],
      [encode({ ...body, salt: toBase64(new Uint8Array(4)) }), /salt/],
      [encode({ ...body, iv: 'not base64!' }), /iv/],
      [encode({ ...body, ct: undefined }), /ct/],
      [encode({ ...body, signal: 'javascript:alert(1)' }), /signaling URL/],
      [encode({ ...body, fleetPub: 'AAAA' }), /fleet public key/],
      ['flb1.' + 'A'.repeat(20_000), /at most/],
    ];
    for (const [text, reason] of cases) {
      const error = await refusal(importFleetBackup(text, PASS, false));
      expect(error.detail, text.slice(0, 40)).toMatch(reason);
    }
  });

  test("a browser's fleet (its own keys sealed, the fleet key extractable) backs up and restores", async () => {
    const browser = await createFleet('browser', false, true);
    expect(browser.keys.sign.privateKey.extractable).toBe(false);
    const restored = await importFleetBackup(await exportFleetBackup(browser.fleetKeys!, browser.fleetPub, SIGNAL, PASS), PASS, true);
    expect(restored.fleetId).toBe(browser.fleetId);
    await expect(verifyDeviceCert(browser.cert, restored.fleetPub, restored.fleetId)).resolves.toMatchObject({ id: browser.id, role: 'admin' });
  }, 30_000);

  test('export refuses a short passphrase and a non-extractable key', async () => {
    await refusal(exportFleetBackup(admin.fleetKeys!, admin.fleetPub, SIGNAL, 'short'));
    const browser = await createFleet('browser', false);
    await expect(exportFleetBackup(browser.fleetKeys!, browser.fleetPub, SIGNAL, PASS)).rejects.toMatchObject({ code: 'forbidden' });
    await refusal(exportFleetBackup(admin.fleetKeys!, browser.fleetPub, SIGNAL, PASS));
  }, 30_000);
});
