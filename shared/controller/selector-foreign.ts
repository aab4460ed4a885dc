// Salt's and Ansible's targeting syntax typed as is: recognised before parsing and refused with
// the Flotilla form in the message, instead of a parse error about something else or, worse, a
// selector that quietly means another set of hosts.

import { FlotillaError } from '../wire/errors.ts';

/** Prefixes of the selector language, with the colon (kept here so both parsers agree). */
export const PREFIXES = ['os', 'region', 'tag', 'id', 'ip', 'distro', 'release', 'arch'] as const;
export type Prefix = (typeof PREFIXES)[number];

/** The prefix of `term` if it starts with a known `prefix:` (any case), else undefined. */
export function knownPrefix(term: string): Prefix | undefined {
  const colon = term.indexOf(':');
  const bracket = term.indexOf('[');
  if (colon < 0 || (bracket >= 0 && bracket < colon)) return undefined;
  const prefix = term.slice(0, colon).toLowerCase();
  return (PREFIXES as readonly string[]).includes(prefix) ? (prefix as Prefix) : undefined;
}

function fail(detail: string): never {
  throw new FlotillaError('bad-selector', detail);
}

const GLOB_HINT = 'write a glob or a bracket form, such as web* or web[1:9]';

// Salt grains that have a Flotilla fact of their own; any other grain is suggested as a tag.
function grainEquivalent(key: string, value: string): string {
  const k = key.toLowerCase();
  const v = value.toLowerCase();
  if (k === 'os' || k === 'os_family') return `distro:${v}`;
  if (k === 'osrelease' || k === 'osmajorrelease' || k === 'osrelease_info') return `release:${v}`;
  if (k === 'cpuarch' || k === 'osarch') return `arch:${v}`;
  if (k === 'kernel') return `os:${v}`;
  if (k === 'id' || k === 'host' || k === 'nodename' || k === 'fqdn' || k === 'localhost') return value;
  if (k === 'ipv4' || k === 'ipv6' || k === 'ip4_interfaces' || k === 'ip_interfaces') return `ip:${value}`;
  return `tag:${key}=${value}`;
}

// "(Debian|Ubuntu)" or "Debian|Ubuntu" as a comma list, for regexes that are only alternations.
function alternation(regex: string): string | undefined {
  const m = /^\^?\(?([\w.-]+(?:\|[\w.-]+)*)\)?\$?$/.exec(regex);
  return m?.[1]?.split('|').join(',');
}

function salt(letter: string, body: string, word: string, pos: number): never {
  const at = `"${word}" at position ${pos}`;
  const colon = body.indexOf(':');
  const key = colon < 0 ? body : body.slice(0, colon);
  const value = colon < 0 ? '' : body.slice(colon + 1);
  switch (letter) {
    case 'L':
      fail(`Salt's list matcher ${at} is not needed here: write ${body || 'web1,web2'}`);
    case 'G': {
      const instead = colon < 0 ? 'tag:key=value, distro:, release:, arch: or os:' : grainEquivalent(key, value);
      fail(`Salt's grain matcher ${at} is not Flotilla syntax: write ${instead}`);
    }
    case 'E':
      fail(`Salt's regular-expression matcher ${at} is not supported: ${GLOB_HINT}`);
    case 'P': {
      const list = colon < 0 ? undefined : alternation(value);
      const instead = list ? grainEquivalent(key, list) : undefined;
      fail(
        `Salt's grain regular expression ${at} is not supported: ${instead ? `write ${instead}` : 'write a glob or a comma list, such as distro:debian,ubuntu'}`,
      );
    }
    case 'I':
    case 'J':
      fail(
        `Salt's pillar matcher ${at} is not supported (Flotilla has no pillar): tag the hosts and write ${colon < 0 ? 'tag:key=value' : `tag:${key}=${value}`}`,
      );
    case 'S':
      fail(`Salt's subnet matcher ${at} is not Flotilla syntax: write ip:${body || '10.0.0.0/24'}`);
    case 'N':
      fail(`Salt's nodegroup ${at} is written @${body || 'name'} here (a saved selector: flotilla selector save ${body || 'name'} '<selector>')`);
    case 'R':
      fail(`Salt's range matcher ${at} is not supported: write a bracket list or range, such as web[1,3] or web[01:20]`);
    default:
      fail(`${at} is Salt matcher syntax that Flotilla does not have; see docs/selectors.md for the forms`);
  }
}

// Ansible joins groups with ":" (or ","): "a:b" union, ":&b" intersection, ":!b" exclusion.
function ansible(word: string, pos: number): never {
  const parts = word.split(/[:,]/).filter((p) => p !== '');
  const union = parts.filter((p) => !p.startsWith('&') && !p.startsWith('!'));
  const both = parts.filter((p) => p.startsWith('&')).map((p) => p.slice(1));
  const not = parts.filter((p) => p.startsWith('!')).map((p) => `not ${p.slice(1)}`);
  const first = union.length > 1 ? `(${union.join(' or ')})` : (union[0] ?? '*');
  fail(`Ansible's pattern "${word}" at position ${pos} is not Flotilla syntax: write ${[first, ...both, ...not].join(' and ')}`);
}

/** Throws bad-selector for Salt or Ansible syntax, and for spaces inside a comma list. */
export function refuseForeignSyntax(text: string): void {
  const chunk = /\S+/g;
  for (let m = chunk.exec(text); m; m = chunk.exec(text)) {
    // Parentheses and a leading "!" belong to the compound syntax around the word.
    const lead = /^[(!]*/.exec(m[0])?.[0].length ?? 0;
    let word = m[0].slice(lead);
    // Closing parentheses of the compound syntax, not those of a regex such as "(a|b)".
    const count = (c: string) => word.split(c).length - 1;
    while (word.endsWith(')') && count(')') > count('(')) word = word.slice(0, -1);
    const pos = m.index + lead + 1;
    if (word === '') continue;
    const saltWord = /^([A-Za-z])@(.*)$/.exec(word);
    if (saltWord) salt(saltWord[1]!.toUpperCase(), saltWord[2] ?? '', word, pos);
    // A Salt item later in a comma list: "web-1,G@os:Debian".
    const later = /,([A-Za-z])@([^,]*)/.exec(word);
    if (later) salt(later[1]!.toUpperCase(), later[2] ?? '', later[0].slice(1), pos + later.index + 1);
    if (word.startsWith('~')) fail(`Ansible's regular expression "${word}" at position ${pos} is not supported: ${GLOB_HINT}`);
    if (word.includes('\\')) {
      fail(`"${word}" at position ${pos} looks like a regular expression, which selectors do not support: ${GLOB_HINT}`);
    }
    if (/[:,][&!]/.test(word) && !knownPrefix(word)) ansible(word, pos);
  }
  // "host1, host3": the space ends the word, so the list would be two words without an operator.
  for (let comma = text.indexOf(','); comma >= 0; comma = text.indexOf(',', comma + 1)) {
    let a = comma;
    while (a > 0 && /\s/.test(text.charAt(a - 1))) a--;
    let b = comma + 1;
    while (b < text.length && /\s/.test(text.charAt(b))) b++;
    if (a === comma && b === comma + 1) continue;
    let l = a;
    while (l > 0 && !/[\s(!]/.test(text.charAt(l - 1))) l--;
    let r = b;
    while (r < text.length && !/[\s)]/.test(text.charAt(r))) r++;
    const [left, right] = [text.slice(l, a), text.slice(b, r)];
    if (left === '' || right === '' || /^(and|or|not|&&|\|\||!)$/i.test(right)) continue;
    const where = a < comma ? 'before' : 'after';
    fail(`a space ${where} the comma at position ${comma + 1} splits the list "${text.slice(l, r)}": a comma list holds no spaces; write ${left},${right}`);
  }
}
