import { describe, expect, it } from 'vitest';
import { spec } from './spec.ts';

const good = { protocol: 'tcp', address: '127.0.0.1', port: 8080, pid: 42, program: 'node', uid: 0, inode: 41234 };

describe('ports result', () => {
  it('accepts sockets with or without an owner', () => {
    expect(spec.result({ sockets: [good, { ...good, pid: null, program: null }] }).sockets).toHaveLength(2);
  });

  it('rejects malformed data from a peer', () => {
    expect(() => spec.result({ sockets: [{ ...good, port: 70000 }] })).toThrow(/port/);
    expect(() => spec.result({ sockets: [{ ...good, protocol: 'sctp' }] })).toThrow(/protocol/);
    expect(() => spec.result({ sockets: [{ ...good, pid: '42' }] })).toThrow(/pid/);
    expect(() => spec.result({ sockets: 'none' })).toThrow(/sockets/);
    expect(() => spec.result({ sockets: Array.from({ length: 5001 }, () => good) })).toThrow(/at most 5000/);
  });
});
