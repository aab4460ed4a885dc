// Role-specific checks of a peer's hello: the agent checks the device's certificate chain,
// role, expiry and revocation; the device checks the agent's key against the fleet's pin.

import { FlotillaError } from '../wire/errors.ts';
import { verifyDeviceCert, verifyHostCert, verifyRevocationList, type DeviceCertBody, type HostCertBody, type RevocationList } from '../identity/certs.ts';
import type { PublicKeys } from '../identity/crypto.ts';
import type { Hello } from '../session/handshake.ts';

/** What an agent learns from a device's hello. */
export interface DeviceCheck {
  cert: DeviceCertBody;
  fleetPub: string;
  /** The newest valid revocation list seen (the stored one or the device's), to keep. */
  revocation: RevocationList | undefined;
}

/** Agent side: verifies the device certificate, using the newest revocation list known. */
export async function checkDeviceHello(hello: Hello, fleet: string, stored: RevocationList | undefined, now = Date.now()): Promise<DeviceCheck> {
  if (!hello.fleetPub || !hello.cert) throw new FlotillaError('not-in-fleet', 'the device presented no certificate');
  let revocation = stored;
  if (hello.revocation !== undefined) {
    const offered = await verifyRevocationList(hello.revocation, hello.fleetPub, fleet);
    if (!revocation || offered.body.version > revocation.body.version) revocation = offered;
  }
  const cert = await verifyDeviceCert(hello.cert, hello.fleetPub, fleet, { now, revocation, presented: hello });
  return { cert, fleetPub: hello.fleetPub, revocation };
}

/** What a device learns from an agent's hello. */
export interface AgentCheck {
  /** The fleet accepted this agent (valid host certificate). */
  accepted: boolean;
  hostCert: HostCertBody | undefined;
}

/** Device side: the id was already checked against the keys; now the pin and host certificate. */
export async function checkAgentHello(hello: Hello, fleet: string, fleetPub: string, pinned: PublicKeys | undefined): Promise<AgentCheck> {
  if (pinned && (pinned.signPub !== hello.signPub || pinned.encPub !== hello.encPub)) {
    throw new FlotillaError('key-mismatch', `host ${hello.id.slice(0, 8)}`);
  }
  if (hello.hostCert === undefined) return { accepted: false, hostCert: undefined };
  const hostCert = await verifyHostCert(hello.hostCert, fleetPub, fleet, hello);
  return { accepted: true, hostCert };
}
