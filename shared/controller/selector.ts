// Target selection: which hosts a request goes to. A small compound language modelled on Salt's
// compound targeting, plus Troop's "any one online host of a tag" (one-of). The grammar and
// every form are in docs/selectors.md.

import { FlotillaError } from '../wire/errors.ts';
import { refuseForeignSyntax } from './selector-foreign.ts';
import { ipInRange, parseIpRange } from './selector-ip.ts';
import { expansionSize, hasGlob, MAX_EXPANSION, patternTester } from './selector-pattern.ts';
import { parseWord, quote } from './selector-terms.ts';

/** What the selector language can see of a host. */
export interface SelectableHost {
  id: string;
  /** Empty for a host never contacted: it matches by id only. */
  hostname: string;
  os: string;
  region?: string | undefined;
  tags: Record<string, string>;
  online: boolean;
  /** The addresses the host reports (facts `ips`). */
  ips: readonly string[];
  /** os-release ID, such as `debian` (absent from agents before issue 17). */
  distro?: string | undefined;
  /** os-release VERSION_ID, such as `12` or `22.04`. */
  distroVersion?: string | undefined;
  /** Node's `arch()`: `x64`, `arm64`, … */
  arch?: string | undefined;
}

/** A parsed selector. `and`/`or` hold two or more items; parentheses leave no node of their own. */
export type Selector =
  | { kind: 'all' }
  | { kind: 'glob'; pattern: string }
  | { kind: 'os' | 'region' | 'distro' | 'release' | 'arch'; pattern: string }
  | { kind: 'tag'; key: string; value?: string }
  | { kind: 'id'; prefix: string }
  | { kind: 'ip'; range: string }
  | { kind: 'named'; name: string }
  | { kind: 'and'; items: Selector[] }
  | { kind: 'or'; items: Selector[] }
  | { kind: 'not'; item: Selector }
  | { kind: 'oneOf'; item: Selector };

/** Saved selectors by name (`@name` → selector text). */
export type SelectorLookup = ReadonlyMap<string, string>;

// Bounds on input size and nesting keep parsing, recursion and error messages small.
const MAX_LENGTH = 4096;
const MAX_DEPTH = 64;
/** Saved selectors may refer to others this many levels deep. */
export const MAX_NAMED_DEPTH = 8;
/** A selector may use saved selectors this many times in all (`@a,@a,@a…` is bounded too). */
export const MAX_SAVED_USES = 100;
// An id is 52 characters of lower-case base32 (shared/identity/crypto.ts fingerprint).
const FULL_ID = /^[a-z2-7]{52}$/i;
// A bare word that could be mistaken for an id prefix: a refusal explains id: instead.
const ID_LIKE = /^[a-z2-7]{6,51}$/i;

type TokenKind = 'word' | 'and' | 'or' | 'not' | 'oneOf' | '(' | ')' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
} // pos is 1-based

// A Map, not an object literal, so that words like "constructor" are not mistaken for keywords.
const KEYWORDS = new Map<string, TokenKind>([
  ['and', 'and'],
  ['or', 'or'],
  ['not', 'not'],
  ['one-of', 'oneOf'],
]);
const STARTS_OPERAND = new Set<TokenKind>(['word', 'not', 'oneOf', '(']);

function fail(detail: string): never {
  throw new FlotillaError('bad-selector', detail);
}

function describeToken(token: Token): string {
  return token.kind === 'end' ? 'end of input' : quote(token.text);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    const pos = i + 1;
    if (/\s/.test(c)) i++;
    else if (c === '(' || c === ')' || c === '!') {
      tokens.push({ kind: c === '!' ? 'not' : c, text: c, pos });
      i++;
    } else if (c === '&' || c === '|') {
      const word = c === '&' ? 'and' : 'or';
      if (text.charAt(i + 1) !== c) fail(`unexpected "${c}" at position ${pos}; write "${c}${c}" or "${word}"`);
      tokens.push({ kind: word, text: c + c, pos });
      i += 2;
    } else {
      let end = i;
      while (end < text.length && !/[\s()&|]/.test(text.charAt(end))) end++;
      const word = text.slice(i, end);
      tokens.push({ kind: KEYWORDS.get(word.toLowerCase()) ?? 'word', text: word, pos });
      i = end;
    }
  }
  tokens.push({ kind: 'end', text: '', pos: text.length + 1 });
  return tokens;
}

// A single item needs no and/or node around it.
function join(kind: 'and' | 'or', items: Selector[]): Selector {
  const [only, ...more] = items;
  return only && more.length === 0 ? only : { kind, items };
}

// Each pattern is bounded as it is parsed; this bounds them all together (a comma list of
// ranges, or a saved selector used many times, would otherwise multiply the bound).
function checkExpansion(selector: Selector): void {
  let total = 0;
  const visit = (node: Selector): void => {
    switch (node.kind) {
      case 'and':
      case 'or':
        node.items.forEach(visit);
        break;
      case 'not':
      case 'oneOf':
        visit(node.item);
        break;
      case 'glob':
      case 'os':
      case 'region':
      case 'distro':
      case 'release':
      case 'arch':
        total += expansionSize(node.pattern);
        break;
      case 'tag':
        total += node.value === undefined ? 0 : expansionSize(node.value);
        break;
      default:
        total += 1;
    }
  };
  visit(selector);
  if (total > MAX_EXPANSION) {
    fail(`the selector's patterns expand to ${total} names in all; the limit is ${MAX_EXPANSION}: narrow the ranges or use globs`);
  }
}

/** Parses selector text; throws FlotillaError('bad-selector') naming the problem and its 1-based position. */
export function parseSelector(text: string): Selector {
  if (text.length > MAX_LENGTH) {
    fail(`selector is ${text.length} characters long; the limit is ${MAX_LENGTH} (position ${MAX_LENGTH + 1})`);
  }
  refuseForeignSyntax(text);
  const tokens = tokenize(text);
  const end = tokens[tokens.length - 1] ?? { kind: 'end', text: '', pos: 1 };
  let next = 0;
  let depth = 0;
  const peek = (): Token => tokens[next] ?? end;
  const previous = (): Token => tokens[next - 1] ?? end;

  // One function for both levels: `or` chains `and` chains, which chain unary operands.
  const parseChain = (op: 'and' | 'or'): Selector => {
    const operand = op === 'or' ? () => parseChain('and') : parseUnary;
    const items = [operand()];
    for (;;) {
      const token = peek();
      if (token.kind === op) {
        next++;
        items.push(operand());
      } else if (STARTS_OPERAND.has(token.kind)) {
        const between = `${describeToken(previous())} and ${describeToken(token)}`;
        fail(`expected and/or between ${between} at position ${token.pos}`);
      } else return join(op, items);
    }
  };
  const parseUnary = (): Selector => {
    const token = peek();
    if (token.kind === 'word') {
      next++;
      return parseWord(token.text, token.pos);
    }
    if (token.kind === 'oneOf') fail(`one-of(...) is only allowed as the whole selector, not at position ${token.pos}`);
    if (token.kind === 'end') {
      fail(`expected a selector after ${describeToken(previous())} at position ${token.pos} (end of input)`);
    }
    if (token.kind !== 'not' && token.kind !== '(') fail(`unexpected ${describeToken(token)} at position ${token.pos}`);
    next++;
    if (++depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels at position ${token.pos}`);
    const result: Selector = token.kind === 'not' ? { kind: 'not', item: parseUnary() } : parseChain('or');
    if (token.kind === '(') {
      // parseChain stops only at ")" or the end: anything else that could follow was rejected there.
      if (peek().kind !== ')') fail(`unclosed "(" at position ${token.pos}`);
      next++;
    }
    depth--;
    return result;
  };

  if (peek().kind === 'end') fail('empty selector at position 1');
  const oneOf = peek().kind === 'oneOf';
  if (oneOf && tokens[++next]?.kind !== '(') fail(`expected "(" after "one-of" at position ${peek().pos}`);
  const result: Selector = oneOf ? { kind: 'oneOf', item: parseUnary() } : parseChain('or');
  const rest = peek();
  if (rest.kind !== 'end') {
    const why = oneOf ? 'one-of(...) must be the whole selector; ' : '';
    fail(`${why}unexpected ${describeToken(rest)} at position ${rest.pos}`);
  }
  checkExpansion(result);
  return result;
}

type Predicate = (host: SelectableHost) => boolean;

function field(pattern: string, get: (host: SelectableHost) => string | undefined): Predicate {
  const test = patternTester(pattern, true);
  return (h) => {
    const value = get(h);
    return value !== undefined && test(value);
  };
}

// Node's arch() names first, then the names uname, Debian and others use for the same machine.
const ARCH_ALIASES: ReadonlyArray<readonly string[]> = [
  ['x64', 'x86_64', 'amd64'],
  ['arm64', 'aarch64'],
  ['ia32', 'x86', 'i386', 'i686'],
  ['arm', 'armv7l', 'armhf'],
  ['ppc64', 'ppc64le'],
];

/** Every name of a host's architecture: `x64` is also `x86_64` and `amd64`. */
export function archNames(arch: string): readonly string[] {
  const lower = arch.toLowerCase();
  return ARCH_ALIASES.find((names) => names.includes(lower)) ?? [lower];
}

// `release:22` is 22 and every 22.x; a glob (`22.*`) is taken as written.
function releaseTester(pattern: string): (version: string) => boolean {
  if (hasGlob(pattern)) return patternTester(pattern, true);
  const want = pattern.toLowerCase();
  return (version) => {
    const v = version.toLowerCase();
    return v === want || v.startsWith(`${want}.`);
  };
}

// Compiling once per resolve keeps glob parsing out of the per-host loop.
function compile(selector: Selector): Predicate {
  switch (selector.kind) {
    case 'all':
      return () => true;
    case 'glob': {
      // Names only: an id is matched when written out whole, never by a glob (issue 17).
      const test = patternTester(selector.pattern, true);
      const id = FULL_ID.test(selector.pattern) ? selector.pattern.toLowerCase() : undefined;
      return (h) => (h.hostname !== '' && test(h.hostname)) || h.id === id;
    }
    case 'os':
      return field(selector.pattern, (h) => h.os);
    case 'region':
      return field(selector.pattern, (h) => h.region);
    case 'distro':
      return field(selector.pattern, (h) => h.distro);
    case 'release': {
      const test = releaseTester(selector.pattern);
      return (h) => h.distroVersion !== undefined && test(h.distroVersion);
    }
    case 'arch': {
      const test = patternTester(selector.pattern, true);
      return (h) => h.arch !== undefined && archNames(h.arch).some(test);
    }
    case 'id': {
      const prefix = selector.prefix.toLowerCase();
      return (h) => h.id.toLowerCase().startsWith(prefix);
    }
    case 'ip': {
      const range = parseIpRange(selector.range);
      if (!range) throw new FlotillaError('bad-selector', `${quote(selector.range)} is not an IP address or subnet`);
      return (h) => h.ips.some((address) => ipInRange(range, address));
    }
    case 'tag': {
      const { key, value } = selector;
      const test = value === undefined ? null : patternTester(value, false);
      return (h) => Object.hasOwn(h.tags, key) && (test === null || test(h.tags[key] ?? ''));
    }
    case 'and':
    case 'or': {
      const items = selector.items.map(compile);
      return selector.kind === 'and' ? (h) => items.every((p) => p(h)) : (h) => items.some((p) => p(h));
    }
    case 'not': {
      const item = compile(selector.item);
      return (h) => !item(h);
    }
    case 'oneOf':
      return compile(selector.item);
    case 'named':
      throw new FlotillaError('bad-selector', `@${selector.name} is a saved selector, and none are available here`);
  }
}

/** The `@names` a selector refers to directly, in order (saved ones are not expanded). */
export function savedNames(selector: Selector): string[] {
  switch (selector.kind) {
    case 'named':
      return [selector.name];
    case 'and':
    case 'or':
      return selector.items.flatMap(savedNames);
    case 'not':
    case 'oneOf':
      return savedNames(selector.item);
    default:
      return [];
  }
}

/**
 * Replaces every `@name` by the saved selector it names, recursively (at most MAX_NAMED_DEPTH
 * levels). Throws bad-selector for an unknown name, a loop, or a saved one-of used inside more.
 */
export function expandSaved(selector: Selector, lookup: SelectorLookup | undefined): Selector {
  if (savedNames(selector).length === 0) return selector; // the common case: nothing to expand
  const uses = { count: 0 };
  const expanded = expandIn(selector, lookup, [], uses);
  checkExpansion(expanded);
  return expanded;
}

function expandIn(selector: Selector, lookup: SelectorLookup | undefined, chain: readonly string[], uses: { count: number }): Selector {
  const path = (name: string) => [...chain, name].map((n) => `@${n}`).join(' → ');
  const walk = (node: Selector, whole: boolean): Selector => {
    switch (node.kind) {
      case 'and':
      case 'or':
        return { kind: node.kind, items: node.items.map((i) => walk(i, false)) };
      case 'not':
        return { kind: 'not', item: walk(node.item, false) };
      case 'oneOf':
        return { kind: 'oneOf', item: walk(node.item, false) };
      case 'named': {
        const { name } = node;
        if (chain.includes(name)) fail(`saved selectors refer to each other in a loop: ${path(name)}`);
        if (chain.length >= MAX_NAMED_DEPTH) fail(`saved selectors nest more than ${MAX_NAMED_DEPTH} levels deep: ${path(name)}`);
        if (++uses.count > MAX_SAVED_USES) fail(`the selector uses saved selectors more than ${MAX_SAVED_USES} times in all (@${name} among them)`);
        const text = lookup?.get(name);
        if (text === undefined) {
          const others = [...(lookup?.keys() ?? [])].filter((n) => !chain.includes(n));
          const known =
            others.length > 0
              ? `; saved: ${others
                  .slice(0, 10)
                  .map((n) => `@${n}`)
                  .join(', ')}`
              : '';
          const inside = chain.length > 0 ? ` (used in ${chain.map((n) => `@${n}`).join(' → ')})` : '';
          fail(`no saved selector is named @${name}${inside}${known}`);
        }
        let inner: Selector;
        try {
          inner = parseSelector(text);
        } catch (error) {
          const detail = error instanceof FlotillaError ? error.detail : String(error);
          fail(`in saved selector @${name} (${quote(text)}): ${detail}`);
        }
        const expanded = expandIn(inner, lookup, [...chain, name], uses);
        if (expanded.kind === 'oneOf' && !whole) fail(`@${name} is a one-of(...) selector, which can only be the whole selector`);
        return expanded;
      }
      default:
        return node;
    }
  };
  return walk(selector, true);
}

/** True when `host` matches; a one-of node matches like its inner selector. */
export function matchesSelector(selector: Selector, host: SelectableHost, lookup?: SelectorLookup): boolean {
  return compile(expandSaved(selector, lookup))(host);
}

function randomIndex(n: number): number {
  return Math.floor(Math.random() * n);
}

// A bare word such as "mzxw6y" that names no host but begins a host's id was meant as an id
// prefix, which bare words no longer match: say how to write it instead of matching nothing.
function refuseIdPrefixes(selector: Selector, hosts: readonly SelectableHost[]): void {
  const visit = (node: Selector): void => {
    if (node.kind === 'and' || node.kind === 'or') node.items.forEach(visit);
    else if (node.kind === 'not' || node.kind === 'oneOf') visit(node.item);
    else if (node.kind === 'glob' && ID_LIKE.test(node.pattern)) {
      const word = node.pattern.toLowerCase();
      if (hosts.some((h) => h.hostname.toLowerCase() === word)) return;
      if (hosts.some((h) => h.id.toLowerCase().startsWith(word))) {
        throw new FlotillaError(
          'bad-selector',
          `${quote(node.pattern)} is not a host name but the start of a host id; write id:${node.pattern} (a bare id must be written in full, all 52 characters)`,
        );
      }
    }
  };
  visit(selector);
}

/** How resolveSelector picks a one-of host and finds saved selectors. */
export interface ResolveOptions {
  pick?: (n: number) => number;
  lookup?: SelectorLookup;
}

/** Matching hosts in input order, offline too; for one-of, one online host chosen by `pick`. Throws 'no-match'. */
export function resolveSelector(
  selector: Selector | string,
  hosts: readonly SelectableHost[],
  options: ResolveOptions | ((n: number) => number) = {},
): SelectableHost[] {
  const { pick = randomIndex, lookup } = typeof options === 'function' ? { pick: options } : options;
  const parsed = typeof selector === 'string' ? parseSelector(selector) : selector;
  const ast = expandSaved(parsed, lookup);
  refuseIdPrefixes(ast, hosts);
  if (ast.kind === 'oneOf') {
    const test = compile(ast.item);
    const matching = hosts.filter(test);
    const online = matching.filter((h) => h.online);
    if (online.length === 0) {
      const offline = matching.length > 0 ? ` (${matching.length} match but are offline)` : '';
      throw new FlotillaError('no-match', `no online host matches ${formatSelector(ast.item)}${offline}`);
    }
    const index = pick(online.length);
    const chosen = Number.isInteger(index) ? online[index] : undefined;
    if (!chosen) throw new FlotillaError('internal', `pick(${online.length}) returned ${index}, not an index below it`);
    return [chosen];
  }
  const matched = hosts.filter(compile(ast));
  if (matched.length === 0) {
    const text = typeof selector === 'string' ? selector.trim() : formatSelector(parsed);
    throw new FlotillaError('no-match', text + missingFacts(ast, hosts));
  }
  return matched;
}

function uses(selector: Selector, kinds: ReadonlySet<Selector['kind']>): boolean {
  if (kinds.has(selector.kind)) return true;
  if (selector.kind === 'and' || selector.kind === 'or') return selector.items.some((i) => uses(i, kinds));
  return (selector.kind === 'not' || selector.kind === 'oneOf') && uses(selector.item, kinds);
}

// Agents before issue 17 report no distro or version, and a controller keeps the facts it read
// until it refreshes them: when that may be why nothing matched, say so.
function missingFacts(selector: Selector, hosts: readonly SelectableHost[]): string {
  if (!uses(selector, new Set(['distro', 'release']))) return '';
  const without = hosts.filter((h) => h.distro === undefined && h.distroVersion === undefined).length;
  if (without === 0) return '';
  return `; ${without} of ${hosts.length} hosts have reported no distribution or release: upgrade their agents, or refresh their facts (flotilla hosts --refresh)`;
}

// Parenthesise a child whose operator binds no tighter than its parent's, so grouping survives.
function formatChild(child: Selector, parent: 'and' | 'or' | 'not'): string {
  const text = formatSelector(child);
  const wrap = child.kind === 'or' || (child.kind === 'and' && parent !== 'or');
  return wrap ? `(${text})` : text;
}

/** Canonical text for a selector; parsing it gives back an equal AST. */
export function formatSelector(selector: Selector): string {
  switch (selector.kind) {
    case 'all':
      return '*';
    case 'glob':
      return selector.pattern;
    case 'os':
    case 'region':
    case 'distro':
    case 'release':
    case 'arch':
      return `${selector.kind}:${selector.pattern}`;
    case 'id':
      return `id:${selector.prefix}`;
    case 'ip':
      return `ip:${selector.range}`;
    case 'named':
      return `@${selector.name}`;
    case 'tag':
      return `tag:${selector.key}${selector.value === undefined ? '' : `=${selector.value}`}`;
    case 'and':
    case 'or':
      return selector.items.map((i) => formatChild(i, selector.kind)).join(` ${selector.kind} `);
    case 'not':
      return `not ${formatChild(selector.item, 'not')}`;
    case 'oneOf':
      return `one-of(${formatSelector(selector.item)})`;
  }
}
