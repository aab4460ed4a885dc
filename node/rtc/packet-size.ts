// Larger SCTP packets where the path carries them. werift puts at most 1,200 bytes of user data
// in a packet, which fits any path but costs a DTLS record, a checksum and a sendmsg per 1.2 KB:
// that per-packet work, not the network, limits a transfer on a LAN or the same machine. After
// a data channel opens (and after an ICE restart), the side that sends picks a size from the MTU
// of the interface the route to the peer leaves from (routeSource), checks the path really carries it with a padded SCTP
// HEARTBEAT that the peer echoes back (werift patch: probePacketSize), and only then sends
// packets that big. Relayed paths keep 1,200: the TURN hop and the path beyond it are unknown.

import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';

/** werift's default: fits any path (IPv6 minimum MTU 1280 less headers). */
export const BASE_PAYLOAD = 1200;
/** The largest DATA payload that keeps an SCTP packet within one DTLS record (2^14 bytes). */
export const MAX_PAYLOAD = 16_000;
/**
 * Bytes between the link MTU and the DATA payload: IP header (40 for IPv6), UDP 8, a DTLS 1.2
 * record with AES-GCM 37 (header 13, explicit nonce 8, tag 16) rounded up to leave room for
 * other suites, SCTP common header 12 and DATA chunk header 16.
 */
export function overheadFor(family: 4 | 6): number {
  return (family === 6 ? 40 : 20) + 8 + 64 + 12 + 16;
}

/**
 * An interface's MTU on Linux: /proc/sys/net follows the reader's network namespace (/sys shows
 * the namespace that mounted it), and its IPv6 MTU is the link's unless set lower; /sys when
 * IPv6 is off on the interface. Throws elsewhere.
 */
function readLinuxMtu(name: string): number {
  for (const path of [`/proc/sys/net/ipv6/conf/${name}/mtu`, `/sys/class/net/${name}/mtu`]) {
    try {
      return Number(readFileSync(path, 'utf8').trim());
    } catch {
      // try the next source
    }
  }
  throw new Error(`no MTU for ${name}`);
}

/** The MTU of the interface that has `address` (Linux); undefined when unknown. */
export function interfaceMtu(address: string, readMtu = readLinuxMtu): number | undefined {
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    if (!addresses?.some((a) => a.address === address.split('%')[0])) continue;
    try {
      const mtu = readMtu(name);
      return Number.isInteger(mtu) && mtu >= 576 ? mtu : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The source address the kernel picks for packets to `remote`: a UDP socket connected to it
 * (nothing is sent). werift binds every candidate's socket to the wildcard address, so a pair
 * whose local candidate says 127.0.0.1 can well carry packets out of eth0 to a peer elsewhere;
 * the route, not the candidate's label, says which interface (and MTU) the path starts on.
 * Undefined for a name rather than an address, or when nothing routes there.
 */
export function routeSource(remote: string): Promise<string | undefined> {
  const family = isIP(remote);
  if (family === 0) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    let settled = false;
    const done = (address: string | undefined) => {
      if (settled) return;
      settled = true;
      socket.close();
      resolve(address);
    };
    socket.once('error', () => done(undefined));
    socket.connect(9, remote, () => {
      try {
        done(socket.address().address);
      } catch {
        done(undefined);
      }
    });
  });
}

/**
 * Payload sizes worth probing for a link whose interface has `mtu`, largest first: what the MTU
 * allows, and the Ethernet size (1,500) when the MTU is bigger (a jumbo-frame LAN whose far end
 * has a smaller MTU). Empty when nothing beats the base size.
 */
export function candidatePayloads(mtu: number, family: 4 | 6): number[] {
  const fit = (m: number) => Math.min(MAX_PAYLOAD, m - overheadFor(family));
  const sizes = [fit(mtu), ...(mtu > 1500 ? [fit(1500)] : [])];
  return [...new Set(sizes)].filter((s) => s >= BASE_PAYLOAD + 100).sort((a, b) => b - a);
}

/** The part of werift's SCTP association this uses (methods from patches/werift+0.24.4.patch). */
export interface SizableSctp {
  maxPayload: number;
  probePacketSize(payload: number, timeoutMs?: number): Promise<boolean>;
  setMaxPayload(payload: number): void;
}

export interface PathForSize {
  relayed: boolean;
  /** The address this side's packets to the peer leave from (routeSource; else the candidate's). */
  localAddress: string | undefined;
}

/** What tunePacketSize decided, for the log. */
export interface PacketSizeChoice {
  payload: number;
  mtu?: number;
  /** Sizes probed and whether the path echoed them. */
  probes: { payload: number; ok: boolean }[];
}

/**
 * Picks the packet size for one association: back to the base size first (the path may have
 * changed), then the largest candidate size the path echoes within `timeoutMs`.
 */
export async function tunePacketSize(
  sctp: SizableSctp,
  path: PathForSize,
  o: { timeoutMs?: number; mtuOf?: (address: string) => number | undefined } = {},
): Promise<PacketSizeChoice> {
  sctp.setMaxPayload(BASE_PAYLOAD);
  if (path.relayed || !path.localAddress) return { payload: BASE_PAYLOAD, probes: [] };
  const mtu = (o.mtuOf ?? interfaceMtu)(path.localAddress);
  if (!mtu) return { payload: BASE_PAYLOAD, probes: [] };
  const family = path.localAddress.includes(':') ? 6 : 4;
  const probes: PacketSizeChoice['probes'] = [];
  for (const size of candidatePayloads(mtu, family)) {
    const ok = await sctp.probePacketSize(size, o.timeoutMs ?? 1_000);
    probes.push({ payload: size, ok });
    if (ok) {
      sctp.setMaxPayload(size);
      return { payload: size, mtu, probes };
    }
  }
  return { payload: BASE_PAYLOAD, mtu, probes };
}

/** The socket buffer size werift asks for (patches/werift+0.24.4.patch, UdpTransport). */
export const WANTED_UDP_BUFFER = 4 * 1024 * 1024;

/**
 * The kernel's caps on socket buffers when they are below what werift asks for (Linux:
 * net.core.rmem_max / wmem_max of this network namespace); undefined when they are not, or
 * elsewhere.
 */
export function udpBufferCaps(
  read = (name: string) => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8').trim()),
): { rmemMax: number; wmemMax: number } | undefined {
  try {
    const caps = { rmemMax: read('rmem_max'), wmemMax: read('wmem_max') };
    return caps.rmemMax < WANTED_UDP_BUFFER || caps.wmemMax < WANTED_UDP_BUFFER ? caps : undefined;
  } catch {
    return undefined;
  }
}
