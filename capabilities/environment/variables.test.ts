import { describe, expect, it } from 'vitest';
import { looksSecret, MASK, MAX_VALUE, parseEnviron, parseEtcEnvironment, toVariables } from './variables.ts';

describe('secret masking', () => {
  it('treats *TOKEN*, *SECRET*, *PASSWORD*, *KEY* as secret in any case', () => {
    for (const name of ['MY_API_TOKEN', 'token', 'AWS_SECRET_ACCESS_KEY', 'db_password', 'SSH_KEY', 'apikey', 'Client_Secret'])
      expect(looksSecret(name), name).toBe(true);
    for (const name of ['PATH', 'HOME', 'FOO', 'PASS', 'TOKE']) expect(looksSecret(name), name).toBe(false);
  });

  it('treats a URL carrying a password as secret whatever its name', () => {
    expect(looksSecret('DATABASE_URL', 'postgres://app:hunter2@db.internal:5432/app')).toBe(true);
    expect(looksSecret('PROXY', 'http://:pw@proxy:3128')).toBe(true);
    expect(looksSecret('HOMEPAGE', 'https://example.com/a:b@c')).toBe(false);
    expect(looksSecret('MIRROR', 'https://user@mirror.example')).toBe(false);
    expect(toVariables([['DATABASE_URL', 'postgres://app:hunter2@db/app']], false)).toEqual([{ name: 'DATABASE_URL', value: MASK, secret: true }]);
  });

  it('masks secret values with a fixed mask unless asked, and marks them secret either way', () => {
    const pairs: [string, string][] = [
      ['FOO', 'bar'],
      ['MY_API_TOKEN', 'xyz'],
      ['LONG_SECRET', 'x'.repeat(500)],
    ];
    expect(toVariables(pairs, false)).toEqual([
      { name: 'FOO', value: 'bar', secret: false },
      { name: 'MY_API_TOKEN', value: MASK, secret: true },
      { name: 'LONG_SECRET', value: MASK, secret: true },
    ]);
    expect(toVariables(pairs, true)[1]).toEqual({ name: 'MY_API_TOKEN', value: 'xyz', secret: true });
  });

  it('cuts very long values and says so', () => {
    const [v] = toVariables([['BIG', 'a'.repeat(MAX_VALUE + 10)]], false);
    expect(v!.value).toHaveLength(MAX_VALUE);
    expect(v!.truncated).toBe(true);
  });
});

describe('environment parsing', () => {
  it('reads /proc/<pid>/environ (values may hold = and newlines)', () => {
    expect(parseEnviron('FOO=bar\0EQ=a=b\0NL=x\ny\0ODD\0\0')).toEqual([
      ['FOO', 'bar'],
      ['EQ', 'a=b'],
      ['NL', 'x\ny'],
      ['ODD', ''],
    ]);
    expect(parseEnviron('')).toEqual([]);
  });

  it('reads /etc/environment: comments, export, quotes, junk skipped', () => {
    const text = '# system-wide\nPATH="/usr/local/bin:/usr/bin"\nexport LANG=C.UTF-8\n  EDITOR=\'vim\'\nnot an assignment\n1BAD=x\nEMPTY=\nHALF="open\n';
    expect(parseEtcEnvironment(text)).toEqual([
      ['PATH', '/usr/local/bin:/usr/bin'],
      ['LANG', 'C.UTF-8'],
      ['EDITOR', 'vim'],
      ['EMPTY', ''],
      ['HALF', '"open'],
    ]);
  });
});
