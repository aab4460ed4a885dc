// Parsers of the kernel's socket tables (/proc/net/tcp, tcp6, udp, udp6) and of the socket
// links in /proc/<pid>/fd. Pure functions over text, so they are tested without a kernel.

/** The four tables, named as their files are. */
export const PROTOCOLS = ['tcp', 'tcp6', 'udp', 'udp6'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** One socket that accepts traffic: a TCP socket in LISTEN, a UDP socket bound and not connected. */
export interface ListeningSocket {
  protocol: Protocol;
  address: string;
  port: number;
  /** The socket's inode, which links it to the processes holding it (socket:[inode]). */
  inode: number;
  uid: number;
}

const TCP_LISTEN = '0A';
const TCP_CLOSE = '07';

/** 1F90 → 8080 (ports are written big-endian). */
function hexPort(hex: string): number {
  return parseInt(hex, 16);
}

/** The kernel prints an address as 32-bit words in host byte order (little-endian here). */
function wordBytes(word: string): number[] {
  const n = parseInt(word, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/** 0100007F → 127.0.0.1. */
export function hexToIPv4(hex: string): string {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) throw new Error(`not an IPv4 address in hex: ${hex}`);
  return wordBytes(hex).join('.');
}

/** 32 hex digits → the shortest IPv6 text (RFC 5952: lower case, the longest zero run as ::, ::ffff:a.b.c.d for mapped IPv4). */
export function hexToIPv6(hex: string): string {
  if (!/^[0-9A-Fa-f]{32}$/.test(hex)) throw new Error(`not an IPv6 address in hex: ${hex}`);
  const bytes = [0, 8, 16, 24].flatMap((i) => wordBytes(hex.slice(i, i + 8)));
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${bytes.slice(12).join('.')}`;
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i };
    i = j;
  }
  const text = (list: number[]) => list.map((g) => g.toString(16)).join(':');
  if (best.start < 0) return text(groups);
  return `${text(groups.slice(0, best.start))}::${text(groups.slice(best.start + best.length))}`;
}

/**
 * The listening sockets of one table's text. Lines that do not parse are skipped (the format
 * has been stable since Linux 2.6, but a reader must not fail on a line it does not know).
 */
export function parseProcNet(text: string, protocol: Protocol): ListeningSocket[] {
  const v6 = protocol.endsWith('6');
  const tcp = protocol.startsWith('tcp');
  const out: ListeningSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local rem st queues timer retrnsmt uid timeout inode …
    if (f.length < 10) continue;
    const [local, remote, state, uid, inode] = [f[1]!, f[2]!, f[3]!.toUpperCase(), f[7]!, f[9]!];
    const [addrHex, portHex] = local.split(':');
    const remotePort = remote.split(':')[1];
    if (!addrHex || !portHex || !/^[0-9A-Fa-f]{4}$/.test(portHex) || !/^\d+$/.test(inode) || !/^\d+$/.test(uid)) continue;
    const listening = tcp ? state === TCP_LISTEN : state === TCP_CLOSE && remotePort === '0000';
    if (!listening) continue;
    let address: string;
    try {
      address = v6 ? hexToIPv6(addrHex) : hexToIPv4(addrHex);
    } catch {
      continue;
    }
    out.push({ protocol, address, port: hexPort(portHex), inode: Number(inode), uid: Number(uid) });
  }
  return out;
}

/** socket:[12345] → 12345; anything else (a file, a pipe) → undefined. */
export function socketInode(link: string): number | undefined {
  const m = /^socket:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : undefined;
}
