import { describe, expect, it } from 'vitest';
import { addEntry, entryProblem, formatHosts, isHostName, isIPv4, isIPv6, parseHosts, removeName, splitEntry } from './hosts.ts';

const FILE = `# static table
127.0.0.1\tlocalhost
::1     localhost ip6-localhost ip6-loopback   # loopback
10.0.0.4  db db.internal

garbage-line-without-names
10.0.0.9 cache # the old cache
`;

describe('hosts file validation', () => {
  it('accepts IPv4 and IPv6 addresses and nothing else', () => {
    for (const a of ['127.0.0.1', '0.0.0.0', '255.255.255.255', '10.0.0.4']) expect(isIPv4(a), a).toBe(true);
    for (const a of ['256.0.0.1', '10.0.0', '10.0.0.1.2', '01.2.3.4', '1.2.3.4 ', '', 'a.b.c.d', '1..2.3']) expect(isIPv4(a), a).toBe(false);
    for (const a of [
      '::1',
      '::',
      'fe80::1',
      '2001:db8::8a2e:370:7334',
      '2001:0db8:0000:0000:0000:ff00:0042:8329',
      '::ffff:192.168.0.1',
      '1::',
      '1:2:3:4:5:6:7::',
    ])
      expect(isIPv6(a), a).toBe(true);
    for (const a of [':::1', '1:2:3:4:5:6:7:8:9', '1::2::3', 'g::1', '12345::1', 'fe80::1%eth0', '::ffff:999.1.1.1', '1:2:3:4:5:6:7', ''])
      expect(isIPv6(a), a).toBe(false);
  });

  it('accepts RFC 1123 host names only', () => {
    for (const n of ['db', 'db.internal', 'a-b.c0', 'x'.repeat(63), '3com.example']) expect(isHostName(n), n).toBe(true);
    for (const n of ['', '-db', 'db-', 'db..x', 'under_score', 'sp ace', 'x'.repeat(64), 'a.' + 'b'.repeat(63) + '.' + 'c'.repeat(190), '10.0.0.1', 'db.'])
      expect(isHostName(n), n).toBe(false);
  });

  it('says in one sentence what is wrong with an entry', () => {
    expect(entryProblem('10.0.0.999', ['db'])).toBe('"10.0.0.999" is not a valid IPv4 or IPv6 address');
    expect(entryProblem('10.0.0.5', [])).toMatch(/at least one host name/);
    expect(entryProblem('10.0.0.5', ['ok', 'bad_name'])).toMatch(/"bad_name" is not a valid host name/);
    expect(entryProblem('10.0.0.5', ['localhost'])).toMatch(/"localhost" is left alone/);
    expect(
      entryProblem(
        '10.0.0.5',
        Array.from({ length: 33 }, (_, i) => `n${i}`),
      ),
    ).toMatch(/at most 32/);
    expect(entryProblem('10.0.0.5', ['web', 'db', 'WEB'])).toBe('"WEB" is named twice in one entry');
    expect(entryProblem('fd00::5', ['db'])).toBeUndefined();
    expect(splitEntry('  10.0.0.5   db  db.internal ')).toEqual({ address: '10.0.0.5', names: ['db', 'db.internal'] });
  });
});

describe('hosts file parsing and edits', () => {
  it('parses entries with their comments and keeps every other line', () => {
    const lines = parseHosts(FILE);
    expect(lines).toHaveLength(7);
    expect(lines[0]).toEqual({ line: 1, text: '# static table' });
    expect(lines[2]).toEqual({
      line: 3,
      text: '::1     localhost ip6-localhost ip6-loopback   # loopback',
      address: '::1',
      names: ['localhost', 'ip6-localhost', 'ip6-loopback'],
      comment: 'loopback',
    });
    expect(lines[4]).toEqual({ line: 5, text: '' });
    expect(lines[5]).toEqual({ line: 6, text: 'garbage-line-without-names' });
    expect(formatHosts(lines)).toBe(FILE);
  });

  it('adds a new entry at the end, leaving other lines byte for byte', () => {
    const { lines, change } = addEntry(parseHosts(FILE), '10.0.0.5', ['web', 'web.internal']);
    expect(change).toBe('added 10.0.0.5 web web.internal');
    expect(formatHosts(lines)).toBe(FILE + '10.0.0.5\tweb web.internal\n');
  });

  it("changes an address when the name exists: the entry takes the old one's place", () => {
    const { lines, change } = addEntry(parseHosts(FILE), '10.0.0.7', ['DB']);
    expect(change).toBe('added 10.0.0.7 DB (replacing 10.0.0.4 db)');
    const text = formatHosts(lines);
    expect(text).toContain('10.0.0.7\tDB\n10.0.0.4\tdb.internal\n');
    expect(text).not.toMatch(/10\.0\.0\.4\s+db\s/);
    // Both names moved: the old line goes.
    const both = formatHosts(addEntry(parseHosts(FILE), '10.0.0.8', ['db', 'db.internal']).lines);
    expect(both).not.toContain('10.0.0.4');
    expect(both.split('\n')[3]).toBe('10.0.0.8\tdb db.internal');
  });

  it('removes a name, dropping an entry left empty, keeping its comment otherwise', () => {
    const one = removeName(parseHosts(FILE), 'cache');
    expect(one.change).toBe('removed 10.0.0.9 cache');
    expect(formatHosts(one.lines)).not.toContain('cache');
    const partial = removeName(parseHosts(FILE), 'ip6-loopback');
    expect(formatHosts(partial.lines)).toContain('::1\tlocalhost ip6-localhost\t# loopback\n');
    expect(() => removeName(parseHosts(FILE), 'nothere')).toThrow('no entry in the hosts file names "nothere"');
    expect(() => removeName(parseHosts(FILE), 'localhost')).toThrow(/left alone/);
  });

  it('refuses an invalid entry instead of writing it', () => {
    expect(() => addEntry(parseHosts(FILE), '1.2.3', ['x'])).toThrow('"1.2.3" is not a valid IPv4 or IPv6 address');
    expect(() => addEntry(parseHosts(FILE), '1.2.3.4', ['x\ny'])).toThrow(/not a valid host name/);
  });
});
