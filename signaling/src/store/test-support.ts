// Helpers for the store tests: fleet credentials for devices and accepted agents, and the
// three store calls over real HTTP.

import { randomBytes } from 'node:crypto';
import { issueHostCert } from '../../../shared/identity/certs.ts';
import type { DeviceIdentity, Identity } from '../../../shared/identity/fleet.ts';
import { createPeerCredential } from '../../../shared/identity/tokens.ts';
import type { SignalingServer } from '../server.ts';
import { api, presenceCredential, type Msg } from '../test-support.ts';

/** A device's store credential (the presence credential carrying its device certificate). */
export const deviceCredential = presenceCredential;

/** An agent's store credential: its host certificate (issued by `admin`'s fleet key unless given) and the fleet key. */
export async function agentCredential(admin: DeviceIdentity, agent: Identity, cert?: unknown, fleetId = admin.fleetId): Promise<string> {
  const fleetKey = admin.fleetKeys?.privateKey;
  if (!fleetKey) throw new Error('the admin device must hold the fleet key');
  const hostCert = cert ?? (await issueHostCert(fleetKey, admin.fleetId, agent.pub, admin.id));
  return createPeerCredential(agent.keys, {
    ...agent.pub,
    purpose: 'presence',
    kind: 'agent',
    fleet: fleetId,
    cert: JSON.stringify(hostCert),
    fleetPub: admin.fleetPub,
  });
}

/** A PUT body: a random 100-byte body to everyone at version 1 unless overridden. */
export function record(overrides: Msg = {}): Msg {
  return { kind: 'doc', version: 1, to: ['*'], body: randomBytes(100).toString('base64'), ...overrides };
}

/** PUT /api/store/<fleet>/<rid>; `body` is sent as given when a string. */
export function putRecord(server: SignalingServer, token: string, fleet: string, rid: string, body: unknown): Promise<{ status: number; body: Msg }> {
  return api(server, `/api/store/${fleet}/${encodeURIComponent(rid)}`, {
    method: 'PUT',
    headers: { Authorization: `Flotilla ${token}`, 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** GET /api/store/<fleet>?<query>. */
export function listRecords(server: SignalingServer, token: string, fleet: string, query = ''): Promise<{ status: number; body: Msg }> {
  return api(server, `/api/store/${fleet}${query ? `?${query}` : ''}`, { headers: { Authorization: `Flotilla ${token}` } });
}

/** The rids a list answer holds, in order. */
export function ridsOf(answer: { body: Msg }): string[] {
  return ((answer.body['records'] as Msg[] | undefined) ?? []).map((r) => String(r['rid']));
}
