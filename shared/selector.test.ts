import { describe, it, expect } from 'vitest';
import { FlotillaError } from './errors.ts';
import { formatSelector, matchesSelector, parseSelector, resolveSelector } from './selector.ts';
import type { SelectableHost, Selector } from './selector.ts';

function host(
  id: string,
  hostname: string,
  os: string,
  region: string | undefined,
  tags: Record<string, string>,
  online = true,
): SelectableHost {
  return { id, hostname, os, region, tags, online };
}

const fleet: readonly SelectableHost[] = [
  host('a1b2c3d4e5f6', 'web-1', 'linux', 'eu-west', { role: 'web', env: 'prod' }),
  host('b2c3d4e5f6a1', 'web-2', 'linux', 'eu-central', { role: 'web', env: 'staging' }),
  host('c3d4e5f6a1b2', 'web-3', 'linux', 'us-east', { role: 'web' }, false),
  host('d4e5f6a1b2c3', 'db01', 'linux', 'eu-west', { role: 'db', env: 'prod' }),
  host('e5f6a1b2c3d4', 'db02', 'darwin', 'us-east', { role: 'db' }),
  host('f6a1b2c3d4e5', 'Laptop', 'Darwin', undefined, {}),
];

const names = (text: string): string[] => resolveSelector(text, fleet).map((h) => h.hostname);

function thrown(run: () => unknown): FlotillaError {
  try {
    run();
  } catch (error) {
    if (error instanceof FlotillaError) return error;
    throw error;
  }
  throw new Error('expected a FlotillaError, but nothing was thrown');
}

describe('parse and match', () => {
  it('selects every host with * or all, offline ones included', () => {
    expect(parseSelector('*')).toEqual({ kind: 'all' });
    expect(parseSelector(' ALL ')).toEqual({ kind: 'all' });
    expect(names('*')).toHaveLength(6);
  });

  it('matches bare globs against hostnames, case-insensitively', () => {
    expect(names('web-*')).toEqual(['web-1', 'web-2', 'web-3']);
    expect(names('db0[12]')).toEqual(['db01', 'db02']);
    expect(names('db0[!1]')).toEqual(['db02']);
    expect(names('web-?')).toEqual(['web-1', 'web-2', 'web-3']);
    expect(names('laptop')).toEqual(['Laptop']);
  });

  it('matches bare words against the full id or an id prefix of at least 6 characters', () => {
    expect(names('c3d4e5f6a1b2')).toEqual(['web-3']);
    expect(names('A1B2C3')).toEqual(['web-1']);
    expect(thrown(() => names('a1b2c')).code).toBe('no-match');
    expect(names('id:a1b')).toEqual(['web-1']);
  });

  it('treats a comma list as a white list of full terms, keeping input order', () => {
    expect(names('db02,web-1,nothing-*')).toEqual(['web-1', 'db02']);
    expect(names('tag:role=db,web-3')).toEqual(['web-3', 'db01', 'db02']);
    expect(parseSelector('a,b')).toEqual({ kind: 'or', items: [{ kind: 'glob', pattern: 'a' }, { kind: 'glob', pattern: 'b' }] });
  });

  it('matches os: and region: as case-insensitive globs', () => {
    expect(names('os:darwin')).toEqual(['db02', 'Laptop']);
    expect(names('OS:lin*')).toEqual(['web-1', 'web-2', 'web-3', 'db01']);
    expect(names('region:eu-*')).toEqual(['web-1', 'web-2', 'db01']);
    expect(names('region:*')).not.toContain('Laptop');
  });

  it('matches tag:key=glob exactly on the key and tag:key on presence', () => {
    expect(parseSelector('tag:role=web')).toEqual({ kind: 'tag', key: 'role', value: 'web' });
    expect(names('tag:env')).toEqual(['web-1', 'web-2', 'db01']);
    expect(names('tag:env=pr*')).toEqual(['web-1', 'db01']);
    expect(thrown(() => names('tag:role=WEB')).code).toBe('no-match');
    expect(thrown(() => names('tag:constructor')).code).toBe('no-match');
  });

  it('combines with and/or/not and their symbol synonyms; not gives a black list', () => {
    expect(names('tag:role=web and not web-3')).toEqual(['web-1', 'web-2']);
    expect(names('tag:role=web && !web-3')).toEqual(['web-1', 'web-2']);
    expect(names('web-1 || db01')).toEqual(['web-1', 'db01']);
    expect(names('(web-1 or db02) AND os:linux')).toEqual(['web-1']);
    expect(names('NOT (os:linux or Laptop)')).toEqual(['db02']);
  });

  it('answers for one host with matchesSelector', () => {
    const [web1, , web3] = fleet;
    expect(web1 && matchesSelector(parseSelector('tag:env=prod and region:eu-*'), web1)).toBe(true);
    expect(web3 && matchesSelector(parseSelector('tag:env'), web3)).toBe(false);
  });
});

describe('precedence', () => {
  const glob = (pattern: string): Selector => ({ kind: 'glob', pattern });

  it('binds and tighter than or', () => {
    expect(parseSelector('a or b and c')).toEqual({ kind: 'or', items: [glob('a'), { kind: 'and', items: [glob('b'), glob('c')] }] });
    expect(names('web-1 or web-2 and os:darwin')).toEqual(['web-1']);
  });

  it('binds not tighter than and', () => {
    expect(parseSelector('not a and b')).toEqual({ kind: 'and', items: [{ kind: 'not', item: glob('a') }, glob('b')] });
    expect(names('not os:darwin and tag:role=db')).toEqual(['db01']);
  });

  it('lets parentheses override precedence', () => {
    expect(names('(web-1 or web-2) and tag:env=staging')).toEqual(['web-2']);
    expect(parseSelector('not (a and b)')).toEqual({ kind: 'not', item: { kind: 'and', items: [glob('a'), glob('b')] } });
  });
});

describe('syntax errors', () => {
  const cases: Array<[string, string]> = [
    ['', 'empty selector at position 1'],
    ['   ', 'empty selector at position 1'],
    ['(web-1 or web-2', 'unclosed "(" at position 1'],
    ['web-1 or web-2)', 'unexpected ")" at position 15'],
    ['()', 'unexpected ")" at position 2'],
    ['foo:bar', 'unknown prefix "foo:" at position 1'],
    ['web-1 and foo:bar', 'unknown prefix "foo:" at position 11'],
    ['tag:=x', 'empty tag key at position 5'],
    ['os:', 'empty value after "os:" at position 4'],
    ['tag:role=', 'empty tag value after "role=" at position 10'],
    ['web-1 and', 'expected a selector after "and" at position 10 (end of input)'],
    ['web-1 ||', 'expected a selector after "||" at position 9'],
    ['not', 'expected a selector after "not" at position 4'],
    ['and web-1', 'unexpected "and" at position 1'],
    ['web-1 web-2', 'expected and/or between "web-1" and "web-2" at position 7'],
    ['(web-1) (web-2)', 'expected and/or between ")" and "(" at position 9'],
    ['web-1 & web-2', 'unexpected "&" at position 7'],
    ['web-1,,web-2', 'empty item in comma list at position 7'],
    ['web-1,and', 'unexpected "and" inside a comma list at position 7'],
    ['db0[12', 'unclosed "[" at position 4'],
    ['os:x[]', 'empty character class at position 5'],
    ['id:ab*', 'id: takes a literal prefix, not a glob, at position 4'],
    ['web-1 and one-of(web-2)', 'one-of(...) is only allowed as the whole selector, not at position 11'],
    ['one-of(web-1) or web-2', 'one-of(...) must be the whole selector; unexpected "or" at position 15'],
    ['one-of web-1', 'expected "(" after "one-of" at position 8'],
    ['one-of(one-of(web-1))', 'only allowed as the whole selector, not at position 8'],
  ];

  it.each(cases)('rejects %j with a positioned detail', (text, detail) => {
    const error = thrown(() => parseSelector(text));
    expect(error.code).toBe('bad-selector');
    expect(error.detail).toContain(detail);
    expect(error.message).toContain('The target selector could not be parsed.');
  });

  it('limits the input to 4096 characters', () => {
    expect(parseSelector('a'.repeat(4096))).toEqual({ kind: 'glob', pattern: 'a'.repeat(4096) });
    const error = thrown(() => parseSelector('a'.repeat(4097)));
    expect(error.code).toBe('bad-selector');
    expect(error.detail).toContain('the limit is 4096 (position 4097)');
  });

  it('limits nesting of parentheses and not to 64 levels', () => {
    expect(() => parseSelector(`${'('.repeat(64)}a${')'.repeat(64)}`)).not.toThrow();
    expect(thrown(() => parseSelector(`${'('.repeat(65)}a${')'.repeat(65)}`)).detail).toBe(
      'nesting deeper than 64 levels at position 65',
    );
    expect(thrown(() => parseSelector(`${'!'.repeat(32)}${'('.repeat(33)}a`)).detail).toContain('position 65');
  });

  it('shortens a long token in the detail', () => {
    expect(thrown(() => parseSelector(`web-1 ${'x'.repeat(500)}`)).detail).toContain(`"${'x'.repeat(37)}..."`);
  });
});

describe('formatSelector', () => {
  const texts = [
    '*',
    'web-*',
    'db0[12],Laptop',
    'os:linux and region:eu-* and tag:env',
    'tag:role=web && !web-3',
    '(a or b) or c',
    'a or (b or c)',
    '(a and b) and c',
    'a,b and c',
    'not not (a or b and c)',
    '!(a && b) || id:abc',
    'one-of(tag:role=web and not web-3)',
  ];

  it.each(texts)('round-trips %j', (text) => {
    const ast = parseSelector(text);
    expect(parseSelector(formatSelector(ast))).toEqual(ast);
  });

  it('writes canonical text', () => {
    expect(formatSelector(parseSelector('ALL'))).toBe('*');
    expect(formatSelector(parseSelector('web-1 || web-2 && !db01'))).toBe('web-1 or web-2 and not db01');
    expect(formatSelector(parseSelector('a,b and c'))).toBe('(a or b) and c');
    expect(formatSelector(parseSelector('! ( a AND b )'))).toBe('not (a and b)');
    expect(formatSelector(parseSelector('ONE-OF( TAG:role=web )'))).toBe('one-of(tag:role=web)');
  });
});

describe('one-of', () => {
  it('resolves to exactly one online host chosen by pick', () => {
    const seen: number[] = [];
    const picked = resolveSelector('one-of(tag:role=web)', fleet, (n) => (seen.push(n), n - 1));
    expect(seen).toEqual([2]);
    expect(picked.map((h) => h.hostname)).toEqual(['web-2']);
    expect(resolveSelector('one-of(tag:role=web)', fleet, () => 0).map((h) => h.hostname)).toEqual(['web-1']);
  });

  it('picks randomly among online matches by default', () => {
    for (let i = 0; i < 50; i++) {
      const picked = resolveSelector('one-of(web-*)', fleet);
      expect(picked).toHaveLength(1);
      expect(['web-1', 'web-2']).toContain(picked[0]?.hostname);
    }
  });

  it('throws no-match when no matching host is online', () => {
    const error = thrown(() => resolveSelector('one-of(web-3)', fleet));
    expect(error.code).toBe('no-match');
    expect(error.detail).toBe('no online host matches web-3 (1 match but are offline)');
    expect(thrown(() => resolveSelector('one-of(os:windows)', fleet)).detail).toBe('no online host matches os:windows');
  });

  it('matches like its inner selector in matchesSelector', () => {
    const web3 = fleet[2];
    expect(web3 && matchesSelector(parseSelector('one-of(web-3)'), web3)).toBe(true);
  });

  it('rejects a pick outside the candidates', () => {
    expect(thrown(() => resolveSelector('one-of(web-*)', fleet, () => 2)).code).toBe('internal');
  });
});

describe('resolveSelector', () => {
  it('accepts an AST and keeps input order', () => {
    const ast = parseSelector('db01 or web-1');
    expect(resolveSelector(ast, fleet).map((h) => h.hostname)).toEqual(['web-1', 'db01']);
  });

  it('throws no-match naming the selector when nothing matches', () => {
    const error = thrown(() => resolveSelector(' os:windows ', fleet));
    expect(error.code).toBe('no-match');
    expect(error.detail).toBe('os:windows');
    expect(thrown(() => resolveSelector(parseSelector('*'), [])).detail).toBe('*');
  });

  it('stays fast on globs that make backtracking regexes explode', () => {
    const long = host('0123456789', 'a'.repeat(250), 'linux', undefined, {});
    expect(matchesSelector(parseSelector(`${'*a'.repeat(30)}*b`), long)).toBe(false);
  });
});

describe('random input', () => {
  const tokens = [
    '*', 'all', 'web-*', 'db0[12]', 'a1b2c3', 'os:linux', 'os:', 'tag:role=web', 'tag:role', 'tag:=x', 'region:eu-*',
    'id:abc', 'foo:bar', 'and', 'or', 'not', 'AND', '&&', '||', '!', '&', '(', ')', 'one-of(', 'one-of', ',', '[', ']',
    '?', ':', '=', 'web-1,db02',
  ];

  // A small deterministic PRNG (mulberry32) so a failure can be replayed.
  function random(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  it('throws nothing but FlotillaError on 300 strings built from the grammar', () => {
    const next = random(42);
    let parsed = 0;
    for (let i = 0; i < 300; i++) {
      const length = 1 + Math.floor(next() * 12);
      let text = '';
      for (let k = 0; k < length; k++) text += (tokens[Math.floor(next() * tokens.length)] ?? '') + (next() < 0.7 ? ' ' : '');
      try {
        const ast = parseSelector(text);
        parsed++;
        expect(parseSelector(formatSelector(ast)), text).toEqual(ast);
        resolveSelector(ast, fleet, () => 0);
      } catch (error) {
        expect(error, text).toBeInstanceOf(FlotillaError);
        const { code, detail } = error as FlotillaError;
        expect(['bad-selector', 'no-match'], text).toContain(code);
        if (code === 'bad-selector') expect(detail, text).toMatch(/position \d+/);
      }
    }
    expect(parsed).toBeGreaterThan(10);
  });
});
