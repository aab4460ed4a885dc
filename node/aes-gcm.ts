// Node only (agent and CLI): plugs node:crypto's AES-256-GCM into shared/session/seal.ts, so a record
// is sealed and opened in the calling thread instead of a Web Crypto thread-pool round trip;
// installed by useNodeCrypto (node/platform.ts) at each process's start.

import { KeyObject, createCipheriv, createDecipheriv } from 'node:crypto';
import type { NativeAesGcm } from '../shared/session/seal.ts';

const TAG_BYTES = 16;
// The CryptoKey stays the key's only handle (non-extractable); its KeyObject is looked up once.
const keyObjects = new WeakMap<CryptoKey, KeyObject>();
const keyObjectOf = (key: CryptoKey): KeyObject => {
  let found = keyObjects.get(key);
  if (!found) keyObjects.set(key, (found = KeyObject.from(key)));
  return found;
};

/** AES-256-GCM from node:crypto, byte for byte what Web Crypto produces. */
export const nodeAesGcm: NativeAesGcm = {
  encrypt(key, iv, aad, plain) {
    const cipher = createCipheriv('aes-256-gcm', keyObjectOf(key), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const head = cipher.update(plain);
    const tail = cipher.final();
    const tag = cipher.getAuthTag();
    const out = new Uint8Array(head.length + tail.length + TAG_BYTES);
    out.set(head, 0);
    out.set(tail, head.length);
    out.set(tag, head.length + tail.length);
    return out;
  },
  decrypt(key, iv, aad, data) {
    if (data.length < TAG_BYTES) throw new Error('record shorter than its tag');
    const decipher = createDecipheriv('aes-256-gcm', keyObjectOf(key), iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const head = decipher.update(data.subarray(0, data.length - TAG_BYTES));
    const tail = decipher.final(); // throws when the tag does not match
    if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  },
};
