import { afterEach, describe, expect, it } from 'vitest';
import { createOpener, createSealer, useNativeAesGcm, type Direction } from './seal.ts';
import { generateAesKey } from '../identity/crypto.ts';
import { nodeAesGcm } from '../../node/aes-gcm.ts';
import { utf8 } from '../wire/encoding.ts';

// A browser (Web Crypto) and an agent (node:crypto) must read each other's records.
const WEB = undefined;
const NODE = nodeAesGcm;
const DIR: Direction = 'device-to-agent';

afterEach(() => useNativeAesGcm(undefined));

/** Seals `count` messages with one implementation and opens them with the other. */
async function across(sealWith: typeof WEB | typeof NODE, openWith: typeof WEB | typeof NODE, count: number, rotateEvery = 1 << 20) {
  const { key } = await generateAesKey();
  const sealer = createSealer(key, DIR, { maxMessages: rotateEvery, maxAgeMs: 60_000 });
  const opener = createOpener(key, DIR);
  const sent: Uint8Array[] = [];
  const records: Uint8Array[] = [];
  useNativeAesGcm(sealWith);
  for (let i = 0; i < count; i++) {
    const plain = crypto.getRandomValues(new Uint8Array((i * 37) % 3000));
    sent.push(plain);
    records.push(...(await sealer.seal(plain)));
  }
  useNativeAesGcm(openWith);
  const got: Uint8Array[] = [];
  for (const record of records) {
    const plain = await opener.open(record);
    if (plain) got.push(new Uint8Array(plain));
  }
  return { sent, got, records };
}

describe('seal with node:crypto and Web Crypto', () => {
  for (const [from, to] of [
    ['web', 'node'],
    ['node', 'web'],
    ['node', 'node'],
  ] as const) {
    it(`records sealed by ${from} open with ${to}, across a rekey`, async () => {
      const { sent, got } = await across(from === 'web' ? WEB : NODE, to === 'web' ? WEB : NODE, 12, 5);
      expect(got).toEqual(sent);
    });
  }

  it('produces the same bytes as Web Crypto for the same key and counter', async () => {
    const { key } = await generateAesKey();
    useNativeAesGcm(WEB);
    const web = await createSealer(key, DIR).seal(utf8('same bytes'));
    useNativeAesGcm(NODE);
    const node = await createSealer(key, DIR).seal(utf8('same bytes'));
    expect(node).toEqual(web);
  });

  it('refuses a modified record, a swapped direction and a record under another key', async () => {
    const { records } = await across(NODE, NODE, 1);
    const record = records[0]!;
    const { key } = await generateAesKey();
    useNativeAesGcm(NODE);
    await expect(createOpener(key, DIR).open(record)).rejects.toMatchObject({ code: 'bad-seal' });
    const { key: k2 } = await generateAesKey();
    const sealer = createSealer(k2, DIR);
    const good = (await sealer.seal(utf8('x')))[0]!;
    const bad = new Uint8Array(good);
    bad[bad.length - 1]! ^= 1;
    await expect(createOpener(k2, DIR).open(bad)).rejects.toMatchObject({ code: 'bad-seal' });
    await expect(createOpener(k2, 'agent-to-device').open(good)).rejects.toMatchObject({ code: 'bad-seal' });
    await expect(createOpener(k2, DIR).open(good)).resolves.toEqual(utf8('x'));
  });
});
