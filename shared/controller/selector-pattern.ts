// Name patterns for selectors: shell globs (`*`, `?`, `[a-z]`, `[!0-9]`) plus bracket lists and
// numeric ranges (`web[1,3]`, `web[01:20]`, `web[1:3]-*`), which expand into several globs. A
// bracket holding "," or ":" is a list or range; any other bracket is a character class.

import { FlotillaError } from '../wire/errors.ts';

/** Bracket forms may not expand into more names than this (`web[1:99999]` is a typo, not a fleet). */
export const MAX_EXPANSION = 10_000;

function fail(detail: string): never {
  throw new FlotillaError('bad-selector', detail);
}

type GlobPart = { t: 'star' } | { t: 'one' } | { t: 'lit'; c: string } | { t: 'set'; negate: boolean; ranges: Array<[string, string]> };

/** True when `text` holds a glob character (after bracket lists are expanded, `[` is a class). */
export function hasGlob(text: string): boolean {
  return /[*?[]/.test(text);
}

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

/** One bracket list or range, expanded: its alternatives in order. */
function expandGroup(body: string, pos: number, whole: string, wholePos: number): string[] {
  const out: string[] = [];
  let offset = 0;
  for (const item of body.split(',')) {
    const at = pos + 1 + offset;
    offset += item.length + 1;
    if (item === '') fail(`empty item in "[${body}]" at position ${at}; write it as [1,3] or [1:3]`);
    if (/[[*?!^]/.test(item)) fail(`"${item}" in "[${body}]" at position ${at}: a bracket list holds plain names or ranges, not globs`);
    if (!item.includes(':')) {
      out.push(item);
      continue;
    }
    const bounds = item.split(':');
    const [from = '', to = '', step = '1'] = bounds;
    const example = `${whole.slice(0, whole.indexOf('['))}[1:3]`;
    if (bounds.length > 3 || from === '' || to === '' || step === '') {
      fail(`range "${item}" at position ${at} needs a start and an end, as in ${example}`);
    }
    if (!/^[1-9]\d{0,5}$/.test(step)) fail(`range "${item}" at position ${at} has a step of "${step}"; a step is a whole number of 1 or more`);
    const by = Number(step);
    const numeric = /^\d{1,9}$/.test(from) && /^\d{1,9}$/.test(to);
    const letters = /^[a-z]$/i.test(from) && /^[a-z]$/i.test(to) && from <= 'Z' === to <= 'Z';
    if (!numeric && !letters) {
      fail(`range "${item}" at position ${at} must run between two numbers or two letters, as in ${example} or [a:c]`);
    }
    const lo = numeric ? Number(from) : from.charCodeAt(0);
    const hi = numeric ? Number(to) : to.charCodeAt(0);
    if (lo > hi) fail(`range "${item}" at position ${at} runs backwards; write [${to}:${from}]`);
    if (out.length + (hi - lo) / by > MAX_EXPANSION) tooMany(whole, wholePos);
    // A leading zero on the start keeps its width: [01:20] gives 01, 02, ... 20.
    const width = numeric && from.length > 1 && from.startsWith('0') ? from.length : 0;
    for (let v = lo; v <= hi; v += by) out.push(numeric ? String(v).padStart(width, '0') : String.fromCharCode(v));
  }
  return out;
}

function tooMany(whole: string, pos: number): never {
  fail(
    `"${whole}" at position ${pos} expands to more than ${MAX_EXPANSION} names; narrow the range or use a glob such as ${whole.slice(0, whole.indexOf('['))}*`,
  );
}

/** The bracket lists and ranges of `text` expanded: one glob per combination, in order. Validates. */
export function expandPattern(text: string, pos: number): string[] {
  let results = [''];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('[', i);
    if (open < 0) break;
    const close = text.indexOf(']', open + 1);
    if (close < 0) fail(`unclosed "[" at position ${pos + open}; a bracket holds no spaces, as in web[1,3] or web[01:20]`);
    const body = text.slice(open + 1, close);
    if (!body.includes(',') && !body.includes(':')) {
      compileGlob(text.slice(open, close + 1), pos + open); // a character class: validate it
      results = results.map((r) => r + text.slice(i, close + 1));
    } else {
      const choices = expandGroup(body, pos + open, text, pos);
      if (results.length * choices.length > MAX_EXPANSION) tooMany(text, pos);
      const literal = text.slice(i, open);
      results = results.flatMap((r) => choices.map((c) => r + literal + c));
    }
    i = close + 1;
  }
  return results.map((r) => r + text.slice(i));
}

/** How many globs `text` expands to, counted without expanding (for a pattern that parsed). */
export function expansionSize(text: string): number {
  let total = 1;
  for (let open = text.indexOf('['); open >= 0; open = text.indexOf('[', open + 1)) {
    const close = text.indexOf(']', open + 1);
    if (close < 0) break;
    const body = text.slice(open + 1, close);
    if (body.includes(',') || body.includes(':')) {
      total *= body.split(',').reduce((sum, item) => {
        const [from = '', to = '', step = '1'] = item.split(':');
        if (!item.includes(':')) return sum + 1;
        const numeric = /^\d+$/.test(from);
        const span = numeric ? Number(to) - Number(from) : to.charCodeAt(0) - from.charCodeAt(0);
        return sum + Math.floor(Math.max(0, span) / Math.max(1, Number(step))) + 1;
      }, 0);
    }
    open = close;
  }
  return total;
}

/** Compiles a pattern into a test; names compare without case when `ignoreCase`. */
export function patternTester(text: string, ignoreCase: boolean): (subject: string) => boolean {
  const fold = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  const expanded = expandPattern(fold(text), 1);
  const exact = new Set(expanded.filter((p) => !hasGlob(p)));
  const globs = expanded.filter(hasGlob).map((p) => compileGlob(p, 1));
  return (subject) => {
    const s = fold(subject);
    return exact.has(s) || globs.some((g) => globMatches(g, s));
  };
}

/** The index of the first `ch` in `text` outside brackets, or -1. */
export function indexOutsideBrackets(text: string, ch: string, from = 0): number {
  let inside = false;
  for (let i = from; i < text.length; i++) {
    const c = text.charAt(i);
    if (c === '[') inside = true;
    else if (c === ']') inside = false;
    else if (c === ch && !inside) return i;
  }
  return -1;
}
