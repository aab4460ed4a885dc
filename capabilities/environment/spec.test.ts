import { describe, expect, it } from 'vitest';
import { leastRole } from '../index.ts';
import { spec } from './spec.ts';

const good = {
  pid: 1,
  program: 'init',
  variables: [{ name: 'FOO', value: 'bar', secret: false }],
  etcEnvironment: null,
  profileD: ['a.sh'],
  secretsShown: false,
};

describe('environment spec', () => {
  it('needs viewer to read and admin to unmask', () => {
    expect(leastRole(spec, spec.request.parse({}))).toBe('viewer');
    expect(leastRole(spec, spec.request.parse({ pid: 5 }))).toBe('viewer');
    expect(leastRole(spec, spec.request.parse({ showSecrets: true }))).toBe('admin');
    expect(() => spec.request.parse({ pid: 0 })).toThrow(/pid/);
    expect(() => spec.request.parse({ showSecrets: 'yes' })).toThrow(/showSecrets/);
  });

  it('rejects malformed data from a peer', () => {
    expect(spec.result(good).variables).toHaveLength(1);
    expect(() => spec.result({ ...good, variables: [{ name: 'X', value: 1, secret: false }] })).toThrow(/value/);
    expect(() => spec.result({ ...good, variables: [{ name: 'X', value: 'a'.repeat(16 * 1024 + 1), secret: false }] })).toThrow(/value/);
    expect(() => spec.result({ ...good, etcEnvironment: 'none' })).toThrow(/etcEnvironment/);
    expect(() => spec.result({ ...good, profileD: [3] })).toThrow(/profileD/);
  });
});
