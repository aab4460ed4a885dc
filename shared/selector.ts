// Target selection: which hosts a request goes to. A small compound language modelled on Salt's
// compound targeting, plus Troop's "any one online host of a tag" (one-of).

import { FlotillaError } from './errors.ts';

/** What the selector language can see of a host. */
export interface SelectableHost {
  id: string;
  hostname: string;
  os: string;
  region?: string | undefined;
  tags: Record<string, string>;
  online: boolean;
}

/** A parsed selector. `and`/`or` hold two or more items; parentheses leave no node of their own. */
export type Selector =
  | { kind: 'all' }
  | { kind: 'glob'; pattern: string }
  | { kind: 'os'; pattern: string }
  | { kind: 'tag'; key: string; value?: string }
  | { kind: 'region'; pattern: string }
  | { kind: 'id'; prefix: string }
  | { kind: 'and'; items: Selector[] }
  | { kind: 'or'; items: Selector[] }
  | { kind: 'not'; item: Selector }
  | { kind: 'oneOf'; item: Selector };

// Bounds on input size and nesting keep parsing, recursion and error messages small.
const MAX_LENGTH = 4096;
const MAX_DEPTH = 64;
// Shorter id prefixes collide too easily to be trusted as a bare word.
const MIN_ID_PREFIX = 6;

type TokenKind = 'word' | 'and' | 'or' | 'not' | 'oneOf' | '(' | ')' | 'end';
interface Token { kind: TokenKind; text: string; pos: number } // pos is 1-based

// A Map, not an object literal, so that words like "constructor" are not mistaken for keywords.
const KEYWORDS = new Map<string, TokenKind>([['and', 'and'], ['or', 'or'], ['not', 'not'], ['one-of', 'oneOf']]);
const STARTS_OPERAND = new Set<TokenKind>(['word', 'not', 'oneOf', '(']);

function fail(detail: string): never {
  throw new FlotillaError('bad-selector', detail);
}

// Selector text can be 4096 characters of one word; keep error sentences readable.
function quote(text: string): string {
  return `"${text.length > 40 ? `${text.slice(0, 37)}...` : text}"`;
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

type GlobPart =
  | { t: 'star' }
  | { t: 'one' }
  | { t: 'lit'; c: string }
  | { t: 'set'; negate: boolean; ranges: Array<[string, string]> };

// Globs are compiled by hand rather than into a RegExp: the matcher below is O(n*m) whatever the
// pattern, where a backtracking RegExp of many stars can take exponential time.
function compileGlob(pattern: string, pos: number): GlobPart[] {
  const parts: GlobPart[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '*') {
      if (parts.at(-1)?.t !== 'star') parts.push({ t: 'star' });
    } else if (c === '?') parts.push({ t: 'one' });
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 1);
      if (close < 0) fail(`unclosed "[" at position ${pos + i}`);
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      if (body === '') fail(`empty character class at position ${pos + i}`);
      const ranges: Array<[string, string]> = [];
      for (let k = 0; k < body.length; k++) {
        const lo = body.charAt(k);
        const ranged = body.charAt(k + 1) === '-' && k + 2 < body.length;
        ranges.push([lo, ranged ? body.charAt((k += 2)) : lo]);
      }
      parts.push({ t: 'set', negate, ranges });
      i = close;
    } else parts.push({ t: 'lit', c });
  }
  return parts;
}

// Stars never get here: globMatches handles them.
function stepMatches(part: GlobPart, c: string): boolean {
  if (part.t === 'lit') return part.c === c;
  if (part.t === 'set') return part.ranges.some(([lo, hi]) => lo <= c && c <= hi) !== part.negate;
  return part.t === 'one';
}

// The classic wildcard walk: remember the last star and retry from one character further on.
function globMatches(parts: GlobPart[], subject: string): boolean {
  let [p, i, starP, starI] = [0, 0, -1, 0];
  while (i < subject.length) {
    const part = parts[p];
    if (part?.t === 'star') [starP, starI] = [p++, i];
    else if (part && stepMatches(part, subject.charAt(i))) [p, i] = [p + 1, i + 1];
    else if (starP >= 0) [p, i] = [starP + 1, ++starI];
    else return false;
  }
  while (parts[p]?.t === 'star') p++;
  return p === parts.length;
}

// Hostnames, OS names, regions and ids are case-insensitive by nature; tag values are user data.
function globTester(pattern: string, ignoreCase: boolean): (subject: string) => boolean {
  const parts = compileGlob(ignoreCase ? pattern.toLowerCase() : pattern, 1);
  return (subject) => globMatches(parts, ignoreCase ? subject.toLowerCase() : subject);
}

// A single item needs no and/or node around it.
function join(kind: 'and' | 'or', items: Selector[]): Selector {
  const [only, ...more] = items;
  return only && more.length === 0 ? only : { kind, items };
}

// One item of a comma list, or a whole word: `*`, `all`, a glob, or `prefix:value`.
function parseTerm(term: string, pos: number): Selector {
  const lower = term.toLowerCase();
  if (term === '*' || lower === 'all') return { kind: 'all' };
  if (KEYWORDS.has(lower)) fail(`unexpected ${quote(term)} inside a comma list at position ${pos}`);
  const colon = term.indexOf(':');
  if (colon < 0) {
    compileGlob(term, pos);
    return { kind: 'glob', pattern: term };
  }
  const prefix = lower.slice(0, colon);
  const value = term.slice(colon + 1);
  const at = pos + colon + 1;
  if (prefix !== 'os' && prefix !== 'tag' && prefix !== 'region' && prefix !== 'id') {
    fail(`unknown prefix ${quote(term.slice(0, colon + 1))} at position ${pos}; use os:, tag:, region: or id:`);
  }
  if (value === '') fail(`empty value after "${prefix}:" at position ${at}`);
  if (prefix === 'os' || prefix === 'region') {
    compileGlob(value, at);
    return { kind: prefix, pattern: value };
  }
  if (prefix === 'id') {
    if (/[*?[]/.test(value)) fail(`id: takes a literal prefix, not a glob, at position ${at}`);
    return { kind: 'id', prefix: value };
  }
  const eq = value.indexOf('=');
  if (eq === 0) fail(`empty tag key at position ${at}`);
  if (eq < 0) return { kind: 'tag', key: value };
  const tagValue = value.slice(eq + 1);
  if (tagValue === '') fail(`empty tag value after ${quote(value)} at position ${at + eq + 1}`);
  compileGlob(tagValue, at + eq + 1);
  return { kind: 'tag', key: value.slice(0, eq), value: tagValue };
}

// A word may be a comma list: a white list, each item a full term.
function parseWord(token: Token): Selector {
  const items: Selector[] = [];
  let offset = 0;
  for (const term of token.text.split(',')) {
    if (term === '') fail(`empty item in comma list at position ${token.pos + offset}`);
    items.push(parseTerm(term, token.pos + offset));
    offset += term.length + 1;
  }
  return join('or', items);
}

/** Parses selector text; throws FlotillaError('bad-selector') naming the problem and its 1-based position. */
export function parseSelector(text: string): Selector {
  if (text.length > MAX_LENGTH) {
    fail(`selector is ${text.length} characters long; the limit is ${MAX_LENGTH} (position ${MAX_LENGTH + 1})`);
  }
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
      return parseWord(token);
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
  return result;
}

type Predicate = (host: SelectableHost) => boolean;

function field(pattern: string, get: (host: SelectableHost) => string | undefined): Predicate {
  const test = globTester(pattern, true);
  return (h) => {
    const value = get(h);
    return value !== undefined && test(value);
  };
}

// Compiling once per resolve keeps glob parsing out of the per-host loop.
function compile(selector: Selector): Predicate {
  switch (selector.kind) {
    case 'all': return () => true;
    case 'glob': {
      const test = globTester(selector.pattern, true);
      const literal = selector.pattern.toLowerCase();
      const prefixOk = literal.length >= MIN_ID_PREFIX && !/[*?[]/.test(literal);
      return (h) => test(h.hostname) || test(h.id) || (prefixOk && h.id.toLowerCase().startsWith(literal));
    }
    case 'os': return field(selector.pattern, (h) => h.os);
    case 'region': return field(selector.pattern, (h) => h.region);
    case 'id': {
      const prefix = selector.prefix.toLowerCase();
      return (h) => h.id.toLowerCase().startsWith(prefix);
    }
    case 'tag': {
      const { key, value } = selector;
      const test = value === undefined ? null : globTester(value, false);
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
    case 'oneOf': return compile(selector.item);
  }
}

/** True when `host` matches; a one-of node matches like its inner selector. */
export function matchesSelector(selector: Selector, host: SelectableHost): boolean {
  return compile(selector)(host);
}

function randomIndex(n: number): number {
  return Math.floor(Math.random() * n);
}

/** Matching hosts in input order, offline too; for one-of, one online host chosen by `pick`. Throws 'no-match'. */
export function resolveSelector(
  selector: Selector | string,
  hosts: readonly SelectableHost[],
  pick: (n: number) => number = randomIndex,
): SelectableHost[] {
  const ast = typeof selector === 'string' ? parseSelector(selector) : selector;
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
    throw new FlotillaError('no-match', typeof selector === 'string' ? selector.trim() : formatSelector(ast));
  }
  return matched;
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
    case 'all': return '*';
    case 'glob': return selector.pattern;
    case 'os': case 'region': return `${selector.kind}:${selector.pattern}`;
    case 'id': return `id:${selector.prefix}`;
    case 'tag': return `tag:${selector.key}${selector.value === undefined ? '' : `=${selector.value}`}`;
    case 'and':
    case 'or': return selector.items.map((i) => formatChild(i, selector.kind)).join(` ${selector.kind} `);
    case 'not': return `not ${formatChild(selector.item, 'not')}`;
    case 'oneOf': return `one-of(${formatSelector(selector.item)})`;
  }
}
