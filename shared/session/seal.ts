// Per-direction AES-256-GCM records. The nonce is (epoch, counter) and the header is
// authenticated, so a replayed, reordered, dropped, truncated or modified record fails,
// and the receiver closes the channel. Keys rotate by an in-band rekey record.

import { FlotillaError } from '../wire/errors.ts';
import { concatBytes, utf8 } from '../wire/encoding.ts';
import { generateAesKey, importAesKey, subtle } from '../identity/crypto.ts';

const VERSION = 1;
const HEADER = 13; // version(1) epoch(4) counter(8)
const TAG_BYTES = 16;
const KIND_DATA = 0;
const KIND_REKEY = 1;

/** Which way records flow; part of the authenticated data so directions cannot be swapped. */
export type Direction = 'device-to-agent' | 'agent-to-device';

/** When a sender rotates its key. */
export interface RotationPolicy {
  maxMessages: number;
  maxAgeMs: number;
}

export const DEFAULT_ROTATION: RotationPolicy = { maxMessages: 1 << 20, maxAgeMs: 10 * 60_000 };

/**
 * AES-256-GCM done synchronously, which Node registers (node/aes-gcm.ts): each Web
 * Crypto call is a thread-pool round trip, about 10x the cost of the cipher on a small record.
 * Same algorithm, same bytes; the browser keeps Web Crypto and its non-extractable keys.
 */
export interface NativeAesGcm {
  /** Returns ciphertext followed by the 16-byte tag, as Web Crypto does. */
  encrypt(key: CryptoKey, iv: Uint8Array, aad: Uint8Array, plain: Uint8Array): Uint8Array;
  /** Opens ciphertext followed by its tag; throws when authentication fails. */
  decrypt(key: CryptoKey, iv: Uint8Array, aad: Uint8Array, data: Uint8Array): Uint8Array;
}

let native: NativeAesGcm | undefined;

/** Registers the synchronous implementation (Node only); undefined returns to Web Crypto. */
export function useNativeAesGcm(impl: NativeAesGcm | undefined): void {
  native = impl;
}

function header(epoch: number, counter: number): Uint8Array {
  const out = new Uint8Array(HEADER);
  const view = new DataView(out.buffer);
  out[0] = VERSION;
  view.setUint32(1, epoch);
  view.setUint32(5, Math.floor(counter / 2 ** 32));
  view.setUint32(9, counter >>> 0);
  return out;
}

function aad(direction: Direction, head: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(concatBytes(utf8(`flotilla/seal/${direction}`), head));
}

/** Seals outgoing records; callers must send records in the order seal() was called. */
export interface Sealer {
  /** Seals one plaintext; may first emit a rekey record (returned before it). */
  seal(plaintext: Uint8Array): Promise<Uint8Array[]>;
  readonly epoch: number;
}

/** Creates the sending half for one direction. */
export function createSealer(initialKey: CryptoKey, direction: Direction, policy: RotationPolicy = DEFAULT_ROTATION, now: () => number = Date.now): Sealer {
  let key = initialKey;
  let epoch = 0;
  let counter = 0;
  let keyBorn = now();

  async function sealOne(kind: number, body: Uint8Array): Promise<Uint8Array> {
    if (counter >= Number.MAX_SAFE_INTEGER) throw new FlotillaError('bad-seal', 'counter exhausted');
    const head = header(epoch, counter++);
    const plain = new Uint8Array(body.length + 1);
    plain[0] = kind;
    plain.set(body, 1);
    const iv = head.slice(1);
    if (native) return concatBytes(head, native.encrypt(key, iv, aad(direction, head), plain));
    const cipher = await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: aad(direction, head) }, key, plain);
    return concatBytes(head, new Uint8Array(cipher));
  }

  return {
    get epoch() {
      return epoch;
    },
    async seal(plaintext) {
      const out: Uint8Array[] = [];
      if (counter >= policy.maxMessages || now() - keyBorn >= policy.maxAgeMs) {
        const next = await generateAesKey();
        // The new key travels sealed under the current one; from the next record on, both sides use it.
        out.push(await sealOne(KIND_REKEY, next.raw));
        key = next.key;
        epoch += 1;
        counter = 0;
        keyBorn = now();
      }
      out.push(await sealOne(KIND_DATA, plaintext));
      return out;
    },
  };
}

/** Opens incoming records; callers must feed records in arrival order. */
export interface Opener {
  /** Returns the plaintext, or undefined for an internal rekey record. Throws bad-seal. */
  open(record: Uint8Array): Promise<Uint8Array | undefined>;
  readonly epoch: number;
}

/** Creates the receiving half for one direction. */
export function createOpener(initialKey: CryptoKey, direction: Direction): Opener {
  let key = initialKey;
  let epoch = 0;
  let expected = 0;
  let broken = false;

  return {
    get epoch() {
      return epoch;
    },
    async open(record) {
      if (broken) throw new FlotillaError('bad-seal', 'channel already failed');
      try {
        if (record.length < HEADER + TAG_BYTES + 1) throw new FlotillaError('bad-seal', 'record too short');
        const head = record.subarray(0, HEADER);
        const view = new DataView(head.buffer, head.byteOffset, HEADER);
        if (head[0] !== VERSION) throw new FlotillaError('bad-seal', `unknown record version ${head[0]}`);
        const recordEpoch = view.getUint32(1);
        const counter = view.getUint32(5) * 2 ** 32 + view.getUint32(9);
        if (recordEpoch !== epoch) throw new FlotillaError('bad-seal', `record from key epoch ${recordEpoch}, expected ${epoch}`);
        if (counter !== expected) {
          throw new FlotillaError('bad-seal', counter < expected ? `replayed record ${counter}` : `record ${counter} out of order, expected ${expected}`);
        }
        let plain: Uint8Array;
        try {
          if (native) plain = native.decrypt(key, head.subarray(1), aad(direction, head), record.subarray(HEADER));
          else {
            const iv = new Uint8Array(head.subarray(1));
            const data = new Uint8Array(record.subarray(HEADER));
            plain = new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv, additionalData: aad(direction, new Uint8Array(head)) }, key, data));
          }
        } catch {
          throw new FlotillaError('bad-seal', `record ${counter} failed authentication`);
        }
        expected += 1;
        if (plain[0] === KIND_REKEY) {
          key = await importAesKey(plain.subarray(1));
          epoch += 1;
          expected = 0;
          return undefined;
        }
        if (plain[0] !== KIND_DATA) throw new FlotillaError('bad-seal', `unknown record kind ${plain[0]}`);
        return plain.subarray(1);
      } catch (error) {
        broken = true;
        throw error;
      }
    },
  };
}
