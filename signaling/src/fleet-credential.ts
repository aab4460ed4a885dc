// The one check of "this caller is a member of that fleet", shared by presence and the store:
// a `presence` peer credential carrying the fleet key and a certificate the fleet key signed
// for the credential's own keys, whose id is not on the fleet's revocation list.

import { verifyDeviceCert, verifyHostCert } from '../../shared/identity/certs.ts';
import { verifyPeerCredential, type PeerCredential } from '../../shared/identity/tokens.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { RevocationStore } from './revocations.ts';

/** A verified fleet member. */
export interface FleetMember {
  id: string;
  kind: PeerCredential['kind'];
  fleet: string;
}

/** Who may pass: presence is for devices only, the store for devices and accepted agents. */
export interface FleetCredentialOptions {
  agents: boolean;
}

/**
 * Verifies `Authorization: Flotilla <credential>`. A device presents its device certificate
 * (checked for expiry and revocation); an agent its host certificate. Throws FlotillaError:
 * bad-token (missing or invalid credential), not-in-fleet, cert-expired, cert-revoked.
 */
export async function verifyFleetCredential(header: string | undefined, revocations: RevocationStore, options: FleetCredentialOptions): Promise<FleetMember> {
  const match = /^Flotilla\s+(\S+)$/.exec(header ?? '');
  if (!match?.[1]) throw new FlotillaError('bad-token', 'send "Authorization: Flotilla <presence credential>"');
  const credential = await verifyPeerCredential(match[1], { purpose: 'presence' });
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
  if (credential.kind === 'device') {
    await verifyDeviceCert(cert, fleetPub, credential.fleet, { presented: credential, revocation });
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
  return { id: credential.id, kind: credential.kind, fleet: credential.fleet };
}
