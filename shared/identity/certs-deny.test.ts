// A device certificate's optional `deny` (permissions taken away from its role): issued,
// signed and verified, and parsed strictly.

import { beforeAll, describe, expect, it } from 'vitest';
import { addDevice, createFleet, type DeviceIdentity } from './fleet.ts';
import { denies, parseDeviceCert, signDocument, verifyDeviceCert } from './certs.ts';

let admin: DeviceIdentity;

beforeAll(async () => {
  admin = await createFleet('admin', true);
}, 20_000);

describe('device certificate deny', () => {
  it('is signed with the certificate and survives verification', async () => {
    const device = await addDevice(admin, 'kiosk', 'operator', { deny: ['shell'] });
    const body = await verifyDeviceCert(device.cert, admin.fleetPub, admin.fleetId);
    expect(body.deny).toEqual(['shell']);
    expect(denies(body, 'shell')).toBe(true);
  });

  it('is absent unless asked for, and then denies nothing', async () => {
    const device = await addDevice(admin, 'laptop', 'operator');
    const body = await verifyDeviceCert(device.cert, admin.fleetPub, admin.fleetId);
    expect('deny' in body).toBe(false);
    expect(denies(body, 'shell')).toBe(false);
  });

  it('cannot be removed without breaking the signature', async () => {
    const device = await addDevice(admin, 'kiosk2', 'operator', { deny: ['shell'] });
    const { deny: _removed, ...rest } = device.cert.body;
    await expect(verifyDeviceCert({ body: rest, sig: device.cert.sig }, admin.fleetPub, admin.fleetId)).rejects.toThrow(/signature/);
  });

  it.each([
    [[], /empty list/],
    [['shell', 'shell'], /more than 1 items|twice/],
    [['root'], /unknown permission "root"/],
    ['shell', /expected a list/],
    [[7], /expected a string/],
  ])('refuses deny %j', async (deny, message) => {
    const signed = await signDocument(admin.fleetKeys!.privateKey, { ...admin.cert.body, deny });
    expect(() => parseDeviceCert(signed)).toThrow(message);
  });
});
