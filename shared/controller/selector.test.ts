import { describe, it, expect } from 'vitest';
import { FlotillaError } from '../wire/errors.ts';
import { fingerprint } from '../identity/crypto.ts';
import { formatSelector, matchesSelector, parseSelector, resolveSelector } from './selector.ts';
import type { SelectableHost, Selector } from './selector.ts';

// Realistic ids: 52 characters of base32, made the way shared/identity/crypto.ts makes host ids.
const idOf = (name: string) => fingerprint(new TextEncoder().encode(`host key of ${name}`));
const ids = Object.fromEntries(
  await Promise.all(['web-1', 'web-2', 'web-3', 'db01', 'db02', 'Laptop'].map(async (n) => [n, await idOf(n)] as const)),
) as Record<'web-1' | 'web-2' | 'web-3' | 'db01' | 'db02' | 'Laptop', string>;

interface More {
  ips?: string[];
  distro?: string;
  distroVersion?: string;
  arch?: string;
}

function host(
  id: string,
  hostname: string,
  os: string,
  region: string | undefined,
  tags: Record<string, string>,
  online = true,
  more: More = {},
): SelectableHost {
  return { id, hostname, os, region, tags, online, ips: more.ips ?? [], distro: more.distro, distroVersion: more.distroVersion, arch: more.arch };
}

const fleet: readonly SelectableHost[] = [
  host(ids['web-1'], 'web-1', 'linux', 'eu-west', { role: 'web', env: 'prod' }, true, {
    ips: ['10.0.0.11', 'fd00::11'],
    distro: 'debian',
    distroVersion: '12',
    arch: 'x64',
  }),
  host(ids['web-2'], 'web-2', 'linux', 'eu-central', { role: 'web', env: 'staging' }, true, {
    ips: ['10.0.0.12', '192.0.2.7'],
    distro: 'debian',
    distroVersion: '11',
    arch: 'arm64',
  }),
  host(ids['web-3'], 'web-3', 'linux', 'us-east', { role: 'web' }, false, { ips: ['10.0.1.13'], distro: 'ubuntu', distroVersion: '22.04', arch: 'x64' }),
  host(ids.db01, 'db01', 'linux', 'eu-west', { role: 'db', env: 'prod' }, true, {
    ips: ['10.0.0.21', 'fe80::21%eth0'],
    distro: 'ubuntu',
    distroVersion: '24.04',
    arch: 'x64',
  }),
  host(ids.db02, 'db02', 'darwin', 'us-east', { role: 'db' }, true, { ips: ['2001:db8::22', '::ffff:10.0.0.22'], arch: 'arm64' }),
  // An agent from before issue 17: no distro or version in its facts.
  host(ids.Laptop, 'Laptop', 'Darwin', undefined, {}, true, { arch: 'x64' }),
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

  // Issue 17 changed this: a bare 6+ character id prefix no longer matches (it is refused, saying
  // to write id:), and globs never look at ids.
  it('matches a bare id only in full, and id prefixes only with id:', () => {
    expect(ids['web-3']).toMatch(/^[a-z2-7]{52}$/);
    expect(names(ids['web-3'])).toEqual(['web-3']);
    expect(names(ids['web-3'].toUpperCase())).toEqual(['web-3']);
    expect(names(`id:${ids['web-1'].slice(0, 3)}`)).toContain('web-1');
    expect(names(`id:${ids['web-1'].slice(0, 10).toUpperCase()}`)).toEqual(['web-1']);
  });

  it('treats a comma list as a white list of full terms, keeping input order', () => {
    expect(names('db02,web-1,nothing-*')).toEqual(['web-1', 'db02']);
    // Issue 17 changed this: after tag:role=db, "web-3" is another value of role, not a host name.
    expect(names('web-3,tag:role=db')).toEqual(['web-3', 'db01', 'db02']);
    expect(parseSelector('a,b')).toEqual({
      kind: 'or',
      items: [
        { kind: 'glob', pattern: 'a' },
        { kind: 'glob', pattern: 'b' },
      ],
    });
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
    expect(thrown(() => parseSelector(`${'('.repeat(65)}a${')'.repeat(65)}`)).detail).toBe('nesting deeper than 64 levels at position 65');
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
    '*',
    'all',
    'web-*',
    'db0[12]',
    'a1b2c3',
    'os:linux',
    'os:',
    'tag:role=web',
    'tag:role',
    'tag:=x',
    'region:eu-*',
    'id:abc',
    'foo:bar',
    'and',
    'or',
    'not',
    'AND',
    '&&',
    '||',
    '!',
    '&',
    '(',
    ')',
    'one-of(',
    'one-of',
    ',',
    '[',
    ']',
    '?',
    ':',
    '=',
    'web-1,db02',
    // Issue 17's forms.
    'web-[1,3]',
    'db[01:02]',
    'web[1:',
    'ip:10.0.0.0/8',
    'ip:::1',
    'ip:10.*',
    'distro:debian,ubuntu',
    'release:22.*',
    'arch:amd64',
    '@web',
    '@',
    'G@os:x',
    'L@a,b',
    '~x',
    'web:&db',
    'region:eu-west,us-east',
    'tag:env=prod,staging',
    ',',
    ', ',
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

  it('throws nothing but FlotillaError on 1000 strings built from the grammar', () => {
    const next = random(42);
    let parsed = 0;
    for (let i = 0; i < 1000; i++) {
      const length = 1 + Math.floor(next() * 12);
      let text = '';
      for (let k = 0; k < length; k++) text += (tokens[Math.floor(next() * tokens.length)] ?? '') + (next() < 0.7 ? ' ' : '');
      try {
        const ast = parseSelector(text);
        parsed++;
        expect(parseSelector(formatSelector(ast)), text).toEqual(ast);
        resolveSelector(ast, fleet, { pick: () => 0, lookup: new Map([['web', 'web-*']]) });
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

describe('names, not ids (issue 17)', () => {
  // Under the old rule a glob was also tried against each 52-character id: "*a" took the hosts
  // whose id ends in "a", "*xy*" those whose id contains "xy".
  it('never matches a glob against an id', () => {
    for (const h of fleet.filter((x) => /\d$/.test(x.hostname))) {
      for (const glob of [`*${h.id.slice(-1)}`, `*${h.id.slice(-2)}`, `*${h.id.slice(20, 24)}*`, `${h.id.slice(0, 8)}*`, `${h.id.slice(0, 51)}?`]) {
        expect(matchesSelector(parseSelector(glob), h), `${glob} against ${h.hostname}`).toBe(false);
      }
    }
    // Realistic ids end in a letter about 80% of the time: under the old rule "*a"-style globs
    // took a good part of any fleet.
    // A glob that ends in a letter matches names ending in it, and nothing else.
    expect(names('*p')).toEqual(['Laptop']);
  });

  it('refuses a bare id prefix, saying to write id:', () => {
    const prefix = ids.db01.slice(0, 6);
    const error = thrown(() => names(prefix));
    expect(error.code).toBe('bad-selector');
    expect(error.detail).toBe(
      `"${prefix}" is not a host name but the start of a host id; write id:${prefix} (a bare id must be written in full, all 52 characters)`,
    );
    const long = ids.db01.slice(0, 51);
    expect(thrown(() => names(`web-1 or ${long}`)).detail).toContain(`write id:${long}`);
    expect(names(`id:${prefix}`)).toEqual(['db01']);
  });

  it('lets a host whose name looks like an id prefix be selected by name', () => {
    const prefix = ids.db01.slice(0, 8);
    const odd = [...fleet, host(ids['web-2'].replace(/^./, 'z'), prefix, 'linux', undefined, {})];
    expect(resolveSelector(prefix, odd).map((h) => h.hostname)).toEqual([prefix]);
  });
});

describe('comma lists inside a prefixed item (issue 17)', () => {
  it('reads further items as more values of the prefix', () => {
    expect(names('region:eu-west,us-east')).toEqual(['web-1', 'web-3', 'db01', 'db02']);
    expect(names('os:linux,darwin')).toHaveLength(6);
    expect(names('tag:env=prod,staging')).toEqual(['web-1', 'web-2', 'db01']);
    expect(names('tag:role=db,web-3')).toEqual(['db01', 'db02']);
    expect(names('tag:nothing,env')).toEqual(['web-1', 'web-2', 'db01']);
    expect(names(`id:${ids['web-1'].slice(0, 8)},${ids.db02.slice(0, 8)}`)).toEqual(['web-1', 'db02']);
    expect(parseSelector('region:eu-west,us-east')).toEqual({
      kind: 'or',
      items: [
        { kind: 'region', pattern: 'eu-west' },
        { kind: 'region', pattern: 'us-east' },
      ],
    });
  });

  it('starts a new item at a prefix of its own, *, all or @name', () => {
    expect(names('region:us-east,os:linux')).toEqual(['web-1', 'web-2', 'web-3', 'db01', 'db02']);
    expect(names('web-1,region:us-east')).toEqual(['web-1', 'web-3', 'db02']);
    expect(parseSelector('os:linux,*')).toEqual({ kind: 'or', items: [{ kind: 'os', pattern: 'linux' }, { kind: 'all' }] });
    expect(parseSelector('os:linux,@web')).toEqual({
      kind: 'or',
      items: [
        { kind: 'os', pattern: 'linux' },
        { kind: 'named', name: 'web' },
      ],
    });
  });

  it('refuses key=value after tag:key=value, showing how to write a second tag', () => {
    expect(thrown(() => parseSelector('tag:env=prod,role=web')).detail).toBe(
      '"role=web" at position 14 follows tag:env=…, so it would be another value of env; to match another tag write tag:role=web',
    );
  });
});

describe('bracket lists and ranges (issue 17)', () => {
  const nodes = Array.from({ length: 25 }, (_, i) => host(`n${i}`, `node${String(i + 1).padStart(2, '0')}`, 'linux', undefined, {}));
  const nodeNames = (text: string) => resolveSelector(text, nodes).map((h) => h.hostname);

  it('expands a list: web-[1,3] is web-1 or web-3', () => {
    expect(names('web-[1,3]')).toEqual(['web-1', 'web-3']);
    expect(names('web-[3,1]')).toEqual(['web-1', 'web-3']);
    expect(names('db[01,02,03]')).toEqual(['db01', 'db02']);
    expect(names('WEB-[1,2]')).toEqual(['web-1', 'web-2']);
  });

  it('expands numeric ranges, keeping a zero-padded width', () => {
    expect(nodeNames('node[01:03]')).toEqual(['node01', 'node02', 'node03']);
    expect(nodeNames('node[08:11]')).toEqual(['node08', 'node09', 'node10', 'node11']);
    expect(nodeNames('node[01:20:5]')).toEqual(['node01', 'node06', 'node11', 'node16']);
    expect(nodeNames('node[01:02,24:99]')).toEqual(['node01', 'node02', 'node24', 'node25']);
    expect(names('web-[1:2]')).toEqual(['web-1', 'web-2']);
    // No leading zero, no padding: node1 does not exist.
    expect(thrown(() => nodeNames('node[1:3]')).code).toBe('no-match');
  });

  it('combines with globs and character classes', () => {
    const more = [
      ...nodes,
      host('x1', 'web1-a', 'linux', undefined, {}),
      host('x2', 'web2-b', 'linux', undefined, {}),
      host('x3', 'web4-c', 'linux', undefined, {}),
    ];
    expect(resolveSelector('web[1:3]-*', more).map((h) => h.hostname)).toEqual(['web1-a', 'web2-b']);
    expect(resolveSelector('node[0,1][0-4]', more).map((h) => h.hostname)).toEqual([
      'node01',
      'node02',
      'node03',
      'node04',
      'node10',
      'node11',
      'node12',
      'node13',
      'node14',
    ]);
    expect(names('db0[12]')).toEqual(['db01', 'db02']);
  });

  it('works in other pattern fields', () => {
    expect(names('region:eu-[west,central]')).toEqual(['web-1', 'web-2', 'db01']);
    expect(names('tag:env=[prod,staging]')).toEqual(['web-1', 'web-2', 'db01']);
    expect(formatSelector(parseSelector('web[1,3] or node[01:20]'))).toBe('web[1,3] or node[01:20]');
  });

  it('accepts letter ranges', () => {
    const rack = ['a', 'b', 'c', 'd'].map((c) => host(c, `rack-${c}`, 'linux', undefined, {}));
    expect(resolveSelector('rack-[b:c]', rack).map((h) => h.hostname)).toEqual(['rack-b', 'rack-c']);
  });

  const refusals: Array<[string, string]> = [
    ['web[1:99999]', '"web[1:99999]" at position 1 expands to more than 10000 names; narrow the range or use a glob such as web*'],
    ['a[1:200]b[1:200]', '"a[1:200]b[1:200]" at position 1 expands to more than 10000 names; narrow the range or use a glob such as a*'],
    ['web[3:1]', 'range "3:1" at position 5 runs backwards; write [1:3]'],
    ['web[1:]', 'range "1:" at position 5 needs a start and an end, as in web[1:3]'],
    ['web[1:c]', 'range "1:c" at position 5 must run between two numbers or two letters, as in web[1:3] or [a:c]'],
    ['web[1:3:0]', 'range "1:3:0" at position 5 has a step of "0"; a step is a whole number of 1 or more'],
    ['web[1,,3]', 'empty item in "[1,,3]" at position 7; write it as [1,3] or [1:3]'],
    ['web[1,a*]', '"a*" in "[1,a*]" at position 7: a bracket list holds plain names or ranges, not globs'],
    ['web[1,3', 'unclosed "[" at position 4; a bracket holds no spaces, as in web[1,3] or web[01:20]'],
  ];

  it.each(refusals)('refuses %j', (text, detail) => {
    const error = thrown(() => parseSelector(text));
    expect(error.code).toBe('bad-selector');
    expect(error.detail).toBe(detail);
  });

  it('bounds the names of all patterns together', () => {
    expect(thrown(() => parseSelector('a[1:6000],b[1:6000]')).detail).toBe(
      "the selector's patterns expand to 12000 names in all; the limit is 10000: narrow the ranges or use globs",
    );
    expect(thrown(() => parseSelector('a[1:5000] or region:[1:3000] and tag:k=[1:3000]')).detail).toContain('expand to 11000 names in all');
    expect(() => parseSelector('a[1:5000],b[1:4999]')).not.toThrow();
  });

  it('expands the largest allowed range', () => {
    expect(matchesSelector(parseSelector('n[1:10000]'), host('z', 'n9999', 'linux', undefined, {}))).toBe(true);
  });
});

describe('ip: (issue 17)', () => {
  it('matches subnets and addresses, IPv4 and IPv6, against the reported addresses', () => {
    expect(names('ip:10.0.0.0/24')).toEqual(['web-1', 'web-2', 'db01', 'db02']);
    expect(names('ip:10.0.0.0/16')).toEqual(['web-1', 'web-2', 'web-3', 'db01', 'db02']);
    expect(names('ip:192.0.2.7')).toEqual(['web-2']);
    expect(names('ip:fd00::/64')).toEqual(['web-1']);
    expect(names('ip:fe80::/10')).toEqual(['db01']);
    expect(names('ip:2001:DB8::22')).toEqual(['db02']);
    expect(names('ip:10.0.0.22')).toEqual(['db02']);
    expect(names('ip:10.0.1.13,192.0.2.7')).toEqual(['web-2', 'web-3']);
    expect(names('ip:fd00::11,10.0.0.21')).toEqual(['web-1', 'db01']);
    expect(thrown(() => names('ip:0.0.0.0/0 and os:darwin and not db02')).code).toBe('no-match');
  });

  it('reads ip:::1 as the IPv6 loopback address', () => {
    expect(parseSelector('ip:::1')).toEqual({ kind: 'ip', range: '::1' });
    expect(matchesSelector(parseSelector('ip:::1'), host('z', 'z', 'linux', undefined, {}, true, { ips: ['::1'] }))).toBe(true);
    expect(matchesSelector(parseSelector('ip:::1'), host('z', 'z', 'linux', undefined, {}, true, { ips: ['::2', '127.0.0.1'] }))).toBe(false);
  });

  const refusals: Array<[string, string]> = [
    ['ip:10.0.0.*', '"10.0.0.*" at position 4 is not an IP address or subnet; write ip:10.0.0.0/24'],
    ['ip:10.*', '"10.*" at position 4 is not an IP address or subnet; write ip:10.0.0.0/8'],
    ['ip:300.1.1.1', '"300.1.1.1" at position 4 is not an IP address or subnet; write one such as ip:192.0.2.7, ip:10.0.0.0/24 or ip:fd00::/64'],
    ['ip:10.0.0.0/33', '"10.0.0.0/33" at position 4 is not an IP address or subnet; write one such as ip:192.0.2.7, ip:10.0.0.0/24 or ip:fd00::/64'],
    ['ip:fd00:::1', '"fd00:::1" at position 4 is not an IP address or subnet; write one such as ip:192.0.2.7, ip:10.0.0.0/24 or ip:fd00::/64'],
    ['10.0.0.0/24', '"10.0.0.0/24" at position 1 is an IP address or subnet: write ip:10.0.0.0/24'],
    ['os:linux and fd00::1', '"fd00::1" at position 14 is an IP address or subnet: write ip:fd00::1'],
  ];

  it.each(refusals)('refuses %j', (text, detail) => {
    expect(thrown(() => parseSelector(text)).detail).toBe(detail);
  });
});

describe('distro:, release:, arch: (issue 17)', () => {
  it('matches distro as a case-insensitive glob list', () => {
    expect(names('distro:debian,ubuntu')).toEqual(['web-1', 'web-2', 'web-3', 'db01']);
    expect(names('distro:Deb*')).toEqual(['web-1', 'web-2']);
    // Agents from before issue 17 report no distro: they match no distro: item, not even *.
    expect(names('not distro:*')).toEqual(['db02', 'Laptop']);
  });

  it('says when hosts without these facts may be why nothing matched', () => {
    expect(thrown(() => names('distro:arch')).detail).toBe(
      'distro:arch; 2 of 6 hosts have reported no distribution or release: upgrade their agents, or refresh their facts (flotilla hosts --refresh)',
    );
    expect(thrown(() => names('release:99 or os:windows')).detail).toContain('; 2 of 6 hosts have reported no distribution');
    expect(thrown(() => names('os:windows')).detail).toBe('os:windows');
    expect(thrown(() => resolveSelector('distro:arch', fleet.slice(0, 2))).detail).toBe('distro:arch');
  });

  it('matches release as a version or a dotted prefix of one, or as a glob', () => {
    expect(names('release:12')).toEqual(['web-1']);
    expect(names('release:22.*')).toEqual(['web-3']);
    expect(names('release:22')).toEqual(['web-3']);
    expect(names('release:2*')).toEqual(['web-3', 'db01']);
    expect(names('release:11,24.04')).toEqual(['web-2', 'db01']);
    expect(thrown(() => names('release:2')).code).toBe('no-match');
    expect(thrown(() => names('release:22.0')).code).toBe('no-match');
  });

  it('matches arch by Node name or its usual aliases', () => {
    const x64 = ['web-1', 'web-3', 'db01', 'Laptop'];
    const arm = ['web-2', 'db02'];
    expect(names('arch:x64')).toEqual(x64);
    expect(names('arch:x86_64')).toEqual(x64);
    expect(names('arch:AMD64')).toEqual(x64);
    expect(names('arch:aarch64')).toEqual(arm);
    expect(names('arch:arm64')).toEqual(arm);
    expect(names('arch:x86_64,arm64')).toHaveLength(6);
    expect(names('arch:x86*')).toEqual(x64);
    expect(matchesSelector(parseSelector('arch:arm64'), host('z', 'z', 'linux', undefined, {}, true, { arch: 'aarch64' }))).toBe(true);
  });
});

describe('saved selectors @name (issue 17)', () => {
  const saved = new Map([
    ['web', 'tag:role=web'],
    ['prod-web', '@web and tag:env=prod'],
    ['eu', 'region:eu-*'],
    ['loop-a', '@loop-b'],
    ['loop-b', 'web-1 or @loop-a'],
    ['broken', 'os:linux and'],
    ['one', 'one-of(@web)'],
    ['dangling', '@nowhere or web-1'],
    ...Array.from({ length: 10 }, (_, i) => [`deep${i}`, i === 9 ? 'web-1' : `@deep${i + 1}`] as [string, string]),
  ]);
  const resolve = (text: string) => resolveSelector(text, fleet, { lookup: saved, pick: () => 0 }).map((h) => h.hostname);

  it('expands names, recursively and inside compound selectors', () => {
    expect(parseSelector('@web')).toEqual({ kind: 'named', name: 'web' });
    expect(resolve('@web')).toEqual(['web-1', 'web-2', 'web-3']);
    expect(resolve('@prod-web')).toEqual(['web-1']);
    expect(resolve('@eu and not @web')).toEqual(['db01']);
    expect(resolve('@web,db02')).toEqual(['web-1', 'web-2', 'web-3', 'db02']);
    expect(resolve('@one')).toEqual(['web-1']);
    expect(resolve('@deep2')).toEqual(['web-1']);
    expect(formatSelector(parseSelector('@web and not @eu'))).toBe('@web and not @eu');
  });

  const refusals: Array<[string, string]> = [
    ['@nope', 'no saved selector is named @nope; saved: @web, @prod-web, @eu, @loop-a, @loop-b, @broken, @one, @dangling, @deep0, @deep1'],
    [
      '@dangling',
      'no saved selector is named @nowhere (used in @dangling); saved: @web, @prod-web, @eu, @loop-a, @loop-b, @broken, @one, @deep0, @deep1, @deep2',
    ],
    ['@loop-a', 'saved selectors refer to each other in a loop: @loop-a → @loop-b → @loop-a'],
    ['@broken', 'in saved selector @broken ("os:linux and"): expected a selector after "and" at position 13 (end of input)'],
    ['@one and os:linux', '@one is a one-of(...) selector, which can only be the whole selector'],
    ['@deep0', 'saved selectors nest more than 8 levels deep: @deep0 → @deep1 → @deep2 → @deep3 → @deep4 → @deep5 → @deep6 → @deep7 → @deep8'],
  ];

  it.each(refusals)('refuses %j', (text, detail) => {
    const error = thrown(() => resolve(text));
    expect(error.code).toBe('bad-selector');
    expect(error.detail).toBe(detail);
  });

  it('bounds saved selectors used many times, and their names together', () => {
    const many = new Map([
      ['r', 'n[1:4000]'],
      ['w', 'web-1'],
    ]);
    expect(thrown(() => resolveSelector('@r or @r or @r', fleet, { lookup: many })).detail).toBe(
      "the selector's patterns expand to 12000 names in all; the limit is 10000: narrow the ranges or use globs",
    );
    const often = Array.from({ length: 101 }, () => '@w').join(',');
    expect(thrown(() => resolveSelector(often, fleet, { lookup: many })).detail).toBe(
      'the selector uses saved selectors more than 100 times in all (@w among them)',
    );
    expect(resolveSelector(often.slice(3), fleet, { lookup: many }).map((h) => h.hostname)).toEqual(['web-1']);
  });

  it('says so when there is no lookup at all', () => {
    expect(thrown(() => names('@web')).detail).toBe('no saved selector is named @web');
  });

  it('refuses a malformed name', () => {
    expect(thrown(() => parseSelector('@')).detail).toBe(
      '"@" at position 1 is not a saved selector name; a name is up to 64 letters, digits, "-", "_" or "." after the @, such as @web-prod',
    );
    expect(thrown(() => parseSelector('web-1 or @a:b')).detail).toContain('"@a:b" at position 10 is not a saved selector name');
  });
});
