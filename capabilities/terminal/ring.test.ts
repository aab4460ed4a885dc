// The output ring: offsets since the session's start, the oldest bytes dropped, reads that say
// how much was lost.

import { describe, expect, it } from 'vitest';
import { OutputRing } from './ring.ts';

const bytes = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) % 251);

describe('OutputRing', () => {
  it('reads back what was appended, from any offset', () => {
    const ring = new OutputRing(16);
    ring.append(bytes(0, 10));
    expect(ring.end).toBe(10);
    expect(ring.start).toBe(0);
    expect(ring.read(0)).toEqual({ offset: 0, bytes: bytes(0, 10), lost: 0 });
    expect(ring.read(4, 3)).toEqual({ offset: 4, bytes: bytes(4, 3), lost: 0 });
    expect(ring.read(10).bytes.length).toBe(0);
  });

  it('wraps around and keeps the last capacity bytes', () => {
    const ring = new OutputRing(16);
    for (let at = 0; at < 100; at += 7) ring.append(bytes(at, 7));
    expect(ring.end).toBe(105);
    expect(ring.start).toBe(89);
    const all = ring.read(89);
    expect(all).toEqual({ offset: 89, bytes: bytes(89, 16), lost: 0 });
    // Across the wrap point, in pieces: every byte once.
    const pieces: number[] = [];
    for (let at = 89; at < 105;) {
      const chunk = ring.read(at, 5);
      expect(chunk.offset).toBe(at);
      pieces.push(...chunk.bytes);
      at += chunk.bytes.length;
    }
    expect(Uint8Array.from(pieces)).toEqual(bytes(89, 16));
  });

  it('says how many bytes an old offset lost', () => {
    const ring = new OutputRing(16);
    ring.append(bytes(0, 40));
    expect(ring.read(10)).toEqual({ offset: 24, bytes: bytes(24, 16), lost: 14 });
  });

  it('keeps the tail of an append larger than itself', () => {
    const ring = new OutputRing(8);
    ring.append(bytes(0, 3));
    ring.append(bytes(3, 20));
    expect(ring.end).toBe(23);
    expect(ring.read(0)).toEqual({ offset: 15, bytes: bytes(15, 8), lost: 15 });
  });

  it('returns a copy that later appends do not change', () => {
    const ring = new OutputRing(4);
    ring.append(bytes(0, 4));
    const first = ring.read(0);
    ring.append(bytes(100, 4));
    expect(first.bytes).toEqual(bytes(0, 4));
  });
});

describe('OutputRing, keeping what a client has not acknowledged', () => {
  it('grows rather than drop bytes after keep, up to its limit', () => {
    const ring = new OutputRing(16, 64);
    ring.append(bytes(0, 10));
    ring.append(bytes(10, 30), 5);
    expect(ring.size).toBeGreaterThanOrEqual(35);
    expect(ring.read(5)).toEqual({ offset: 5, bytes: bytes(5, 35), lost: 0 });
    // Past the limit the oldest go anyway.
    ring.append(bytes(40, 100), 5);
    expect(ring.size).toBe(64);
    expect(ring.read(5).lost).toBe(140 - 64 - 5);
  });

  it('shrinks back once the kept bytes fit again', () => {
    const ring = new OutputRing(16, 64);
    ring.append(bytes(0, 40), 0);
    expect(ring.size).toBe(40);
    ring.shrink(10); // 30 bytes still to keep: not yet
    expect(ring.size).toBe(40);
    ring.shrink(30);
    expect(ring.size).toBe(16);
    expect(ring.read(0)).toEqual({ offset: 24, bytes: bytes(24, 16), lost: 24 });
  });
});
