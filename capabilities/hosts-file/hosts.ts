// /etc/hosts as text: parsing that keeps every line (comments, blank lines, lines it does not
// understand), validation of addresses and host names, and the edits (add or change, remove).
// Isomorphic and pure: the spec validates requests with it, the agent edits with it, the CLI
// and the PWA check input with it before sending.

import { FlotillaError } from '../../shared/wire/errors.ts';

/** One line of the file. An entry has `address` and `names`; any other line has only `text`. */
export interface HostsLine {
  /** 1-based line number. */
  line: number;
  /** The line as written (kept byte for byte when the line is not edited). */
  text: string;
  address?: string;
  names?: string[];
  /** The text after `#` on an entry's line. */
  comment?: string;
}

/** Most names one entry may carry (glibc reads up to 35 aliases). */
export const MAX_NAMES = 32;

/** A name Flotilla does not change: the host's own loopback name (editing it breaks local services). */
export const PROTECTED_NAMES: ReadonlySet<string> = new Set(['localhost']);

/** True for a dotted-quad IPv4 address (0–255 each, no leading zeros). */
export function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** True for an IPv6 address in any RFC 4291 text form (with :: and a trailing IPv4 allowed; no zone). */
export function isIPv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || text.length > 45) return false;
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = (half: string) => (half === '' ? [] : half.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...head, ...tail];
  let count = all.length;
  // A trailing IPv4 counts as two groups.
  const last = all[all.length - 1];
  if (last !== undefined && last.includes('.')) {
    if (!isIPv4(last)) return false;
    all.pop();
    count += 1;
  }
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** True for an IPv4 or IPv6 address. */
export function isAddress(text: string): boolean {
  return isIPv4(text) || isIPv6(text);
}

/** True for a host name (RFC 1123): dot-separated labels of letters, digits and inner hyphens, each ≤ 63, all ≤ 253. */
export function isHostName(text: string): boolean {
  if (text.length < 1 || text.length > 253) return false;
  return text.split('.').every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label)) && !isIPv4(text);
}

/** Why an entry cannot be written, as one sentence; undefined when it can. */
export function entryProblem(address: string, names: readonly string[]): string | undefined {
  if (!isAddress(address)) return `"${address}" is not a valid IPv4 or IPv6 address`;
  if (names.length === 0) return `an entry needs at least one host name after the address`;
  if (names.length > MAX_NAMES) return `an entry may have at most ${MAX_NAMES} names`;
  const bad = names.find((n) => !isHostName(n));
  if (bad !== undefined) return `"${bad}" is not a valid host name (letters, digits and inner hyphens, dot-separated)`;
  const twice = names.find((n, i) => names.findIndex((m) => m.toLowerCase() === n.toLowerCase()) !== i);
  if (twice !== undefined) return `"${twice}" is named twice in one entry`;
  const guarded = names.find((n) => PROTECTED_NAMES.has(n.toLowerCase()));
  if (guarded !== undefined) return `"${guarded}" is left alone: changing it breaks the host's own services`;
  return undefined;
}

/** "IP NAME…" (the CLI's --add) as an address and names; throws nothing, returns a problem instead. */
export function splitEntry(text: string): { address: string; names: string[] } {
  const [address = '', ...names] = text.trim().split(/\s+/).filter(Boolean);
  return { address, names };
}

/** Parses the file; every line is kept. */
export function parseHosts(text: string): HostsLine[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((raw, i) => {
    const line = i + 1;
    const hash = raw.indexOf('#');
    const body = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    if (!body) return { line, text: raw };
    const [address = '', ...names] = body.split(/\s+/);
    if (!names.length) return { line, text: raw };
    const comment = hash < 0 ? undefined : raw.slice(hash + 1).trim();
    return { line, text: raw, address, names, ...(comment ? { comment } : {}) };
  });
}

/** The file's text: the lines' text, each ending in a newline. */
export function formatHosts(lines: readonly HostsLine[]): string {
  return lines.map((l) => `${l.text}\n`).join('');
}

function entryText(address: string, names: readonly string[], comment?: string): string {
  return `${address}\t${names.join(' ')}${comment ? `\t# ${comment}` : ''}`;
}

/** `lines` without `names` (case-insensitive, as the resolver compares); entries left with no name are dropped. */
function withoutNames(lines: readonly HostsLine[], names: readonly string[]): { lines: HostsLine[]; firstHit: number | undefined; removed: string[] } {
  const drop = new Set(names.map((n) => n.toLowerCase()));
  const out: HostsLine[] = [];
  const removed: string[] = [];
  let firstHit: number | undefined;
  for (const l of lines) {
    if (!l.address || !l.names || !l.names.some((n) => drop.has(n.toLowerCase()))) {
      out.push(l);
      continue;
    }
    firstHit ??= out.length;
    const kept = l.names.filter((n) => !drop.has(n.toLowerCase()));
    removed.push(`${l.address} ${l.names.filter((n) => drop.has(n.toLowerCase())).join(' ')}`);
    if (kept.length) out.push({ ...l, names: kept, text: entryText(l.address, kept, l.comment) });
  }
  return { lines: out, firstHit, removed };
}

function renumber(lines: HostsLine[]): HostsLine[] {
  return lines.map((l, i) => ({ ...l, line: i + 1 }));
}

/**
 * Adds an entry; a name that another entry has is taken from it (so adding with an existing
 * name changes its address). The new entry takes the place of the first entry it took a name
 * from, or goes at the end. Returns the new lines and a sentence of what changed.
 */
export function addEntry(lines: readonly HostsLine[], address: string, names: readonly string[]): { lines: HostsLine[]; change: string } {
  const problem = entryProblem(address, names);
  if (problem) throw new FlotillaError('bad-message', problem);
  const { lines: rest, firstHit, removed } = withoutNames(lines, names);
  const entry: HostsLine = { line: 0, text: entryText(address, names), address, names: [...names] };
  const at = firstHit ?? rest.length;
  const out = renumber([...rest.slice(0, at), entry, ...rest.slice(at)]);
  return { lines: out, change: `added ${address} ${names.join(' ')}${removed.length ? ` (replacing ${removed.join(', ')})` : ''}` };
}

/** Removes a name from every entry (an entry left with none is dropped); throws when no entry has it. */
export function removeName(lines: readonly HostsLine[], name: string): { lines: HostsLine[]; change: string } {
  if (PROTECTED_NAMES.has(name.toLowerCase())) throw new FlotillaError('policy-refused', `"${name}" is left alone: changing it breaks the host's own services`);
  const { lines: rest, removed } = withoutNames(lines, [name]);
  if (!removed.length) throw new FlotillaError('not-found', `no entry in the hosts file names "${name}"`);
  return { lines: renumber(rest), change: `removed ${removed.join(', ')}` };
}
