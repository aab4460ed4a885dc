// IP addresses and subnets for the `ip:` selector, IPv4 and IPv6, parsed by hand: 60 lines keep
// the shared core free of a dependency in the browser bundle, and the rules are strict on purpose
// (no octal or shortened IPv4 forms that `inet_aton` would accept and an operator would misread).

/** An address (`bits` = full width) or a subnet, as bytes: 4 for IPv4, 16 for IPv6. */
export interface IpRange {
  bytes: Uint8Array;
  bits: number;
}

function parseV4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    // No leading zeros: "010" is octal to some tools and decimal to others.
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined;
    bytes[i] = Number(part);
  }
  return bytes;
}

function parseV6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    const words = half.split(':');
    for (const [i, word] of words.entries()) {
      const v4 = i === words.length - 1 && word.includes('.') ? parseV4(word) : undefined;
      if (v4) out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      else if (/^[0-9a-f]{1,4}$/i.test(word)) out.push(parseInt(word, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  // "::" stands for at least one zero group; without it there must be exactly eight.
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const words = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => ((bytes[2 * i] = w >> 8), (bytes[2 * i + 1] = w & 0xff)));
  return bytes;
}

/** Parses an IPv4 or IPv6 address (an IPv6 zone such as `%eth0` is ignored); undefined if it is none. */
export function parseIp(text: string): Uint8Array | undefined {
  const bare = text.replace(/%[\w.-]+$/, '');
  return bare.includes(':') ? parseV6(bare) : parseV4(bare);
}

/** Parses `address` or `address/prefix-length`; undefined if either part is malformed. */
export function parseIpRange(text: string): IpRange | undefined {
  const slash = text.indexOf('/');
  const bytes = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!bytes) return undefined;
  const width = bytes.length * 8;
  if (slash < 0) return { bytes, bits: width };
  const length = text.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(length) || Number(length) > width) return undefined;
  return { bytes, bits: Number(length) };
}

// `::ffff:a.b.c.d` is an IPv4 address seen through an IPv6 socket: compare it as IPv4.
function unmapped(bytes: Uint8Array): Uint8Array {
  const mapped = bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.subarray(12) : bytes;
}

/** True when `address` (text, as a host reports it) lies in `range`; IPv4 never matches an IPv6 range. */
export function ipInRange(range: IpRange, address: string): boolean {
  const parsed = parseIp(address);
  if (!parsed) return false;
  const bytes = unmapped(parsed);
  const want = range.bytes.length === 16 && range.bits >= 96 ? unmapped(range.bytes) : range.bytes;
  const bits = want.length === range.bytes.length ? range.bits : range.bits - 96;
  if (bytes.length !== want.length) return false;
  for (let i = 0; i * 8 < bits; i++) {
    const mask = bits - i * 8 >= 8 ? 0xff : (0xff << (8 - (bits - i * 8))) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== ((want[i] ?? 0) & mask)) return false;
  }
  return true;
}
