// The words of a selector: a host name pattern, `prefix:value`, `@saved`, or a comma list of
// them. After a prefixed item, further comma items are more values of that prefix ("any of"):
// `region:eu-west,us-east`, `tag:env=prod,staging`; an item with a prefix of its own starts anew.

import { FlotillaError } from '../wire/errors.ts';
import { knownPrefix, PREFIXES, type Prefix } from './selector-foreign.ts';
import { parseIp, parseIpRange } from './selector-ip.ts';
import { expandPattern, hasGlob, indexOutsideBrackets } from './selector-pattern.ts';
import type { Selector } from './selector.ts';

/** Words that are operators, never host names. */
export const KEYWORDS = new Set(['and', 'or', 'not', 'one-of']);

/** What a saved selector may be called (`@name`). */
export const SAVED_NAME = /^[A-Za-z0-9][\w.-]{0,63}$/;

function fail(detail: string): never {
  throw new FlotillaError('bad-selector', detail);
}

// Selector text can be 4096 characters of one word; keep error sentences readable.
export function quote(text: string): string {
  return `"${text.length > 40 ? `${text.slice(0, 37)}...` : text}"`;
}

const PREFIX_LIST = `${PREFIXES.slice(0, -1)
  .map((p) => `${p}:`)
  .join(', ')} and ${PREFIXES.at(-1)}:`;

// "10.0.0.*" as the subnet it means, for the hint.
function subnetOf(value: string): string | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){0,2})(?:\.\*)+$/.exec(value);
  if (!m?.[1]) return undefined;
  const known = m[1].split('.');
  const zeros = new Array<string>(4 - known.length).fill('0');
  return `${[...known, ...zeros].join('.')}/${known.length * 8}`;
}

/** The comma group a value belongs to: its prefix and, for `tag:key=value`, the key. */
interface Group {
  prefix: Prefix;
  tagKey?: string;
}

function parseValue(group: Group, value: string, at: number): Selector {
  const { prefix } = group;
  if (value === '') fail(`empty value after "${prefix}:" at position ${at}`);
  switch (prefix) {
    case 'os':
    case 'region':
    case 'distro':
    case 'release':
    case 'arch':
      expandPattern(value, at);
      return { kind: prefix, pattern: value };
    case 'id':
      if (hasGlob(value)) fail(`id: takes a literal prefix, not a glob, at position ${at}; write a host name glob without id:, or id:<first characters>`);
      return { kind: 'id', prefix: value };
    case 'ip': {
      if (parseIpRange(value)) return { kind: 'ip', range: value };
      const subnet = subnetOf(value);
      fail(
        `${quote(value)} at position ${at} is not an IP address or subnet; write ${subnet ? `ip:${subnet}` : 'one such as ip:192.0.2.7, ip:10.0.0.0/24 or ip:fd00::/64'}`,
      );
    }
    case 'tag': {
      if (group.tagKey !== undefined) {
        if (value.includes('=')) {
          fail(
            `${quote(value)} at position ${at} follows tag:${group.tagKey}=…, so it would be another value of ${group.tagKey}; to match another tag write tag:${value}`,
          );
        }
        expandPattern(value, at);
        return { kind: 'tag', key: group.tagKey, value };
      }
      const eq = value.indexOf('=');
      if (eq === 0) fail(`empty tag key at position ${at}`);
      if (eq < 0) return { kind: 'tag', key: value };
      const tagValue = value.slice(eq + 1);
      if (tagValue === '') fail(`empty tag value after ${quote(value)} at position ${at + eq + 1}`);
      expandPattern(tagValue, at + eq + 1);
      return { kind: 'tag', key: value.slice(0, eq), value: tagValue };
    }
  }
}

// An item with no known prefix: everything, a saved selector, or a host name pattern.
function parseBare(term: string, pos: number): Selector {
  const lower = term.toLowerCase();
  if (term === '*' || lower === 'all') return { kind: 'all' };
  if (term.startsWith('@')) {
    const name = term.slice(1);
    if (!SAVED_NAME.test(name)) {
      fail(
        `${quote(term)} at position ${pos} is not a saved selector name; a name is up to 64 letters, digits, "-", "_" or "." after the @, such as @web-prod`,
      );
    }
    return { kind: 'named', name };
  }
  const colon = indexOutsideBrackets(term, ':');
  if (colon >= 0 || term.includes('/')) {
    if (parseIpRange(term) || parseIp(term)) fail(`${quote(term)} at position ${pos} is an IP address or subnet: write ip:${term}`);
  }
  if (colon >= 0) {
    const parts = term.split(':');
    const ansible =
      parts.length > 1 && parts.every((p) => /^[\w.*?-]+$/.test(p))
        ? `; to select the hosts ${parts.join(', ')} (Ansible's ${term}) write ${parts.join(' or ')}`
        : '';
    fail(`unknown prefix ${quote(term.slice(0, colon + 1))} at position ${pos}; the prefixes are ${PREFIX_LIST}${ansible}`);
  }
  expandPattern(term, pos);
  return { kind: 'glob', pattern: term };
}

/** Parses one word of selector text (no spaces or parentheses), a comma list being an `or`. */
export function parseWord(text: string, pos: number): Selector {
  const items: Selector[] = [];
  let group: Group | undefined;
  let start = 0;
  for (;;) {
    const comma = indexOutsideBrackets(text, ',', start);
    const term = text.slice(start, comma < 0 ? undefined : comma);
    const at = pos + start;
    if (term === '') fail(`empty item in comma list at position ${at}`);
    if (KEYWORDS.has(term.toLowerCase())) fail(`unexpected ${quote(term)} inside a comma list at position ${at}`);
    const prefix = knownPrefix(term);
    if (prefix) {
      const value = term.slice(prefix.length + 1);
      const item = parseValue({ prefix }, value, at + prefix.length + 1);
      group = item.kind === 'tag' && item.value !== undefined ? { prefix, tagKey: item.key } : { prefix };
      items.push(item);
    } else if (group && term !== '*' && term.toLowerCase() !== 'all' && !term.startsWith('@')) {
      items.push(parseValue(group, term, at));
    } else {
      group = undefined;
      items.push(parseBare(term, at));
    }
    if (comma < 0) break;
    start = comma + 1;
  }
  const [only, ...more] = items;
  return only && more.length === 0 ? only : { kind: 'or', items };
}
