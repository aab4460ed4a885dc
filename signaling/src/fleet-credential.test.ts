// The fleet credential check shared by presence and the store: what it remembers between calls
// and what it checks again on each (freshness, certificate expiry, revocation, agents refused
// where only devices may pass).

import { beforeAll, describe, expect, it } from 'vitest';
import { issueRevocationList, type RevocationList } from '../../shared/identity/certs.ts';
import { addDevice, createFleet, createIdentity, type DeviceIdentity } from '../../shared/identity/fleet.ts';
import { createPeerCredential } from '../../shared/identity/tokens.ts';
import { createFleetCredentialCheck } from './fleet-credential.ts';
import type { RevocationStore } from './revocations.ts';
import { agentCredential } from './store/test-support.ts';
import { presenceCredential } from './test-support.ts';

let fleet: DeviceIdentity;

beforeAll(async () => {
  fleet = await createFleet('admin', true);
}, 60_000); // RSA key generation on a busy machine

/** A revocation store holding whatever list the test sets. */
function lists(): { store: RevocationStore; set(list: RevocationList): void } {
  let held: RevocationList | undefined;
  const store = { get: () => held, offer: () => Promise.reject(new Error('unused')), snapshot: () => ({ v: 1 as const, fleets: [] }) };
  return { store, set: (list) => (held = list) };
}

describe('createFleetCredentialCheck', () => {
  it('checks revocation, certificate expiry and freshness again for a credential it has verified', async () => {
    let now = Date.now();
    const { store, set } = lists();
    const check = createFleetCredentialCheck(store, 100, () => now);
    const shortLived = await addDevice(fleet, 'temp', 'viewer', { ttlMs: 60_000, now });
    const header = `Flotilla ${await presenceCredential(shortLived)}`;
    expect(await check(header, { agents: false })).toEqual({ id: shortLived.id, kind: 'device', fleet: fleet.fleetId, role: 'viewer' });
    now += 61_000;
    await expect(check(header, { agents: false })).rejects.toMatchObject({ code: 'cert-expired' });
    now += 300_000; // the credential itself is now stale
    await expect(check(header, { agents: false })).rejects.toMatchObject({ code: 'bad-token', detail: expect.stringContaining('stale') });

    now = Date.now();
    const host = await createIdentity(true);
    const agentHeader = `Flotilla ${await agentCredential(fleet, host)}`;
    expect(await check(agentHeader, { agents: true })).toMatchObject({ id: host.id, kind: 'agent' });
    await expect(check(agentHeader, { agents: false })).rejects.toMatchObject({ code: 'bad-token' });
    set(await issueRevocationList(fleet.fleetKeys!.privateKey, fleet.fleetId, 1, [host.id]));
    await expect(check(agentHeader, { agents: true })).rejects.toMatchObject({ code: 'cert-revoked' });
  });

  it('does not remember a credential that failed', async () => {
    const { store } = lists();
    const check = createFleetCredentialCheck(store);
    const stranger = await createFleet('stranger', true);
    const wrong = await createPeerCredential(stranger.keys, {
      ...stranger.pub,
      purpose: 'presence',
      kind: 'device',
      fleet: stranger.fleetId,
      cert: '{',
      fleetPub: stranger.fleetPub,
    });
    await expect(check(`Flotilla ${wrong}`, { agents: true })).rejects.toMatchObject({ code: 'bad-token' });
    await expect(check(`Flotilla ${wrong}`, { agents: true })).rejects.toMatchObject({ code: 'bad-token' });
    await expect(check(undefined, { agents: true })).rejects.toMatchObject({ code: 'bad-token' });
  });
});
