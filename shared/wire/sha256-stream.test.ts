import { describe, it, expect } from 'vitest';
import { createSha256, useNativeSha256 } from './sha256-stream.ts';
import { sha256 } from '../identity/crypto.ts';
import { toHex, utf8 } from './encoding.ts';

describe('incremental sha256', () => {
  it('matches known vectors', () => {
    const empty = createSha256();
    expect(empty.hex()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const abc = createSha256();
    abc.update(utf8('abc'));
    expect(abc.hex()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('matches Web Crypto for random inputs split at random points', async () => {
    for (const length of [1, 55, 56, 63, 64, 65, 119, 120, 1000, 60_000]) {
      const data = crypto.getRandomValues(new Uint8Array(length));
      const stream = createSha256();
      let offset = 0;
      while (offset < length) {
        const step = 1 + Math.floor(Math.random() * 300);
        stream.update(data.subarray(offset, offset + step));
        offset += step;
      }
      expect(stream.hex()).toBe(toHex(await sha256(data)));
    }
  });
});

describe('native SHA-256 in Node', () => {
  it('agrees with the portable implementation on inputs cut at any size', async () => {
    const { nodeSha256 } = await import('../../node/sha256.ts');
    useNativeSha256(nodeSha256);
    const { createJsSha256 } = await import('./sha256-stream.ts');
    for (const size of [0, 1, 55, 56, 63, 64, 65, 1000, 70_000]) {
      const data = new Uint8Array(size).map((_, i) => (i * 31 + size) & 0xff);
      const js = createJsSha256();
      const native = createSha256();
      for (let at = 0; at < size; at += 777) {
        js.update(data.subarray(at, at + 777));
        native.update(data.subarray(at, at + 777));
      }
      expect(native.hex()).toBe(js.hex());
    }
  });
});
