import { describe, expect, it } from 'vitest';
import { leastRole } from '../index.ts';
import { requestFromOptions } from './cli.ts';
import { spec } from './spec.ts';

describe('hosts-file spec', () => {
  it('reads as viewer, changes as operator', () => {
    expect(leastRole(spec, spec.request.parse({}))).toBe('viewer');
    expect(leastRole(spec, spec.request.parse({ op: 'read' }))).toBe('viewer');
    expect(leastRole(spec, spec.request.parse({ op: 'add', address: '10.0.0.5', names: ['web'] }))).toBe('operator');
    expect(leastRole(spec, spec.request.parse({ op: 'remove', name: 'web' }))).toBe('operator');
    expect(leastRole(spec, spec.request.parse({ op: 'undo' }))).toBe('operator');
  });

  it('refuses an invalid change from any controller, not only the CLI', () => {
    expect(() => spec.request.parse({ op: 'add', address: '10.0.0.999', names: ['web'] })).toThrow(/not a valid IPv4 or IPv6 address/);
    expect(() => spec.request.parse({ op: 'add', address: '10.0.0.5', names: ['web\n6.6.6.6 bank'] })).toThrow(/not a valid host name/);
    expect(() => spec.request.parse({ op: 'add', address: '10.0.0.5', names: ['localhost'] })).toThrow(/left alone/);
    expect(() => spec.request.parse({ op: 'remove', name: 'a b' })).toThrow(/not a valid host name/);
    expect(() => spec.request.parse({ op: 'truncate' })).toThrow(/op/);
  });

  it('rejects malformed data from a peer', () => {
    expect(spec.result({ path: '/etc/hosts', lines: [{ line: 1, text: '::1 x', address: '::1', names: ['x'] }], undo: false }).lines).toHaveLength(1);
    expect(() => spec.result({ path: '/etc/hosts', lines: [{ line: 0, text: '' }] })).toThrow(/line/);
    expect(() => spec.result({ path: '/etc/hosts', lines: [{ line: 1, text: 'x', names: 'x' }] })).toThrow(/names/);
    expect(() => spec.result({ path: '/etc/hosts', lines: [], written: 'maybe' })).toThrow(/written/);
  });

  it('maps the CLI options to one request, refusing two at once', () => {
    expect(requestFromOptions(undefined, undefined, false)).toEqual({ op: 'read' });
    expect(requestFromOptions(' 10.0.0.5  web  web.internal ', undefined, false)).toEqual({ op: 'add', address: '10.0.0.5', names: ['web', 'web.internal'] });
    expect(requestFromOptions(undefined, 'web', false)).toEqual({ op: 'remove', name: 'web' });
    expect(requestFromOptions(undefined, undefined, true)).toEqual({ op: 'undo' });
    expect(() => requestFromOptions('10.0.0.5 web', 'web', false)).toThrow(/give one of them/);
    expect(() => requestFromOptions('10.0.0.5', undefined, false)).toThrow(/at least one host name/);
  });
});
