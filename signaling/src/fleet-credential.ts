// The one check of "this caller is a member of that fleet", shared by presence and the store:
// a `presence` peer credential carrying the fleet key and a certificate the fleet key signed
// for the credential's own keys, whose id is not on the fleet's revocation list.

import { createHash } from 'node:crypto';
import { verifyDeviceCert, verifyHostCert, type Role } from '../../shared/identity/certs.ts';
import { verifyPeerCredential, type PeerCredential } from '../../shared/identity/tokens.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { RevocationStore } from './revocations.ts';

/** A verified fleet member. */
export interface FleetMember {
  id: string;
  kind: PeerCredential['kind'];
  fleet: string;
  /** A device's role, from its verified certificate (absent for agents). */
  role?: Role;
}

/** Who may pass: presence is for devices only, the store for devices and accepted agents. */
export interface FleetCredentialOptions {
  agents: boolean;
}

/** Credentials older or newer than this are refused (verifyPeerCredential's default skew). */
const MAX_SKEW_MS = 300_000;

interface Verified {
  member: FleetMember;
  ts: number;
  /** The device certificate's expiry, if it has one. */
  certExp: number | undefined;
}

/** Checks a fleet credential header (`verify` below says what it checks). */
export type FleetCredentialCheck = (header: string | undefined, options: FleetCredentialOptions) => Promise<FleetMember>;

/**
 * A verifyFleetCredential that remembers up to `maxCached` verified credentials while they are
 * fresh, re-checking revocation, certificate expiry and freshness on every call.
 */
export function createFleetCredentialCheck(revocations: RevocationStore, maxCached = 10_000, now: () => number = Date.now): FleetCredentialCheck {
  const cache = new Map<string, Verified>();
  return async (header, options) => {
    const key = createHash('sha256')
      .update(header ?? '')
      .digest('base64');
    const hit = cache.get(key);
    const t = now();
    if (hit && Math.abs(t - hit.ts) <= MAX_SKEW_MS) {
      const { member } = hit;
      if (member.kind === 'agent' && !options.agents)
        throw new FlotillaError('bad-token', 'a presence credential must be a device credential carrying cert and fleetPub');
      const revocation = revocations.get(member.fleet);
      if (revocation?.body.revoked.includes(member.id)) throw new FlotillaError('cert-revoked', `revocation list version ${revocation.body.version}`);
      if (hit.certExp !== undefined && hit.certExp <= t) throw new FlotillaError('cert-expired', `expired ${new Date(hit.certExp).toISOString()}`);
      return member;
    }
    if (hit) cache.delete(key);
    const verified = await verify(header, revocations, options, t);
    if (cache.size >= maxCached) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    cache.set(key, verified);
    return verified.member;
  };
}

/**
 * Verifies `Authorization: Flotilla <credential>`. A device presents its device certificate
 * (checked for expiry and revocation); an agent its host certificate. Throws FlotillaError:
 * bad-token (missing or invalid credential), not-in-fleet, cert-expired, cert-revoked.
 */
async function verify(header: string | undefined, revocations: RevocationStore, options: FleetCredentialOptions, now: number): Promise<Verified> {
  const match = /^Flotilla\s+(\S+)$/.exec(header ?? '');
  if (!match?.[1]) throw new FlotillaError('bad-token', 'send "Authorization: Flotilla <presence credential>"');
  const credential = await verifyPeerCredential(match[1], { purpose: 'presence', now, maxSkewMs: MAX_SKEW_MS });
  const { cert: certText, fleetPub } = credential;
  if (certText === undefined || fleetPub === undefined || (credential.kind === 'agent' && !options.agents)) {
    throw new FlotillaError(
      'bad-token',
      options.agents
        ? 'a fleet credential must carry cert (a device or host certificate) and fleetPub'
        : 'a presence credential must be a device credential carrying cert and fleetPub',
    );
  }
  let cert: unknown;
  try {
    cert = JSON.parse(certText);
  } catch {
    throw new FlotillaError('bad-token', 'cert is not JSON');
  }
  const revocation = revocations.get(credential.fleet);
  let certExp: number | undefined;
  let role: Role | undefined;
  if (credential.kind === 'device') {
    ({ exp: certExp, role } = await verifyDeviceCert(cert, fleetPub, credential.fleet, { presented: credential, revocation, now }));
  } else {
    try {
      await verifyHostCert(cert, fleetPub, credential.fleet, credential);
    } catch (error) {
      // The certificate is genuine but names other keys: to the server, not a member.
      if (error instanceof FlotillaError && error.code === 'key-mismatch')
        throw new FlotillaError('not-in-fleet', 'the host certificate belongs to other keys');
      throw error;
    }
    // Removed hosts go on the same list as revoked devices.
    if (revocation?.body.revoked.includes(credential.id)) throw new FlotillaError('cert-revoked', `revocation list version ${revocation.body.version}`);
  }
  return { member: { id: credential.id, kind: credential.kind, fleet: credential.fleet, ...(role ? { role } : {}) }, ts: credential.ts, certExp };
}
