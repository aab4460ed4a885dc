// Identities are canonical: one key pair has exactly one id. Regression for issue 17, "one RSA
// key with a few trailing bytes after its SPKI gives as many distinct agent ids".

import { beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, concatBytes, fromBase64, toBase64, toBase64Url, utf8 } from '../wire/encoding.ts';
import { fingerprint, fleetIdOf, identityId, signText, subtle, type PublicKeys } from './crypto.ts';
import { createFleet, createIdentity, type DeviceIdentity, type Identity } from './fleet.ts';
import { createPeerCredential, verifyPeerCredential } from './tokens.ts';
import { issueRevocationList, verifyRevocationList } from './certs.ts';
import { FlotillaError } from '../wire/errors.ts';

let agent: Identity;
let admin: DeviceIdentity;

beforeAll(async () => {
  [agent, admin] = await Promise.all([createIdentity(true), createFleet('laptop', true)]);
});

/** The SPKI with `extra` bytes after it: a different text (and, before the fix, a different id) for the same key. */
function padded(b64: string, extra: number[]): string {
  return toBase64(concatBytes(fromBase64(b64)!, new Uint8Array(extra)));
}

/** What main computed as the id of such keys: the fingerprint of whatever bytes arrived. */
async function naiveId(pub: PublicKeys): Promise<string> {
  return fingerprint(concatBytes(fromBase64(pub.signPub)!, fromBase64(pub.encPub)!));
}

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    expect(error).toBeInstanceOf(FlotillaError);
    return (error as FlotillaError).code;
  }
  return 'accepted';
}

describe('canonical identities', () => {
  it('gives one key pair one id: trailing bytes, url-safe base64 and other exponents are refused', async () => {
    const otherIds: PublicKeys[] = [
      { ...agent.pub, signPub: padded(agent.pub.signPub, [0]) },
      { ...agent.pub, signPub: padded(agent.pub.signPub, [1, 2, 3]) },
      { ...agent.pub, encPub: padded(agent.pub.encPub, [0, 0]) },
    ];
    for (const pub of otherIds) {
      expect(await naiveId(pub)).not.toBe(agent.id); // each really was another id
      expect(await codeOf(identityId(pub))).toBe('bad-message');
    }
    // Same bytes, other text: the id was the same, but documents compare keys as text.
    for (const signPub of [toBase64Url(fromBase64(agent.pub.signPub)!), `${agent.pub.signPub}==`]) {
      expect(await codeOf(identityId({ ...agent.pub, signPub }))).toBe('bad-message');
    }
    expect(await identityId(agent.pub)).toBe(agent.id);
    expect(await codeOf(fleetIdOf(padded(admin.fleetPub, [0])))).toBe('bad-message');
    expect(await fleetIdOf(admin.fleetPub)).toBe(admin.fleetId);
  });

  it('refuses an RSA key with another exponent or a short modulus', async () => {
    for (const [bits, exponent] of [
      [2048, [3]],
      [1024, [1, 0, 1]],
    ] as const) {
      const pair = (await subtle().generateKey({ name: 'RSA-PSS', modulusLength: bits, publicExponent: new Uint8Array(exponent), hash: 'SHA-256' }, true, [
        'sign',
        'verify',
      ])) as CryptoKeyPair;
      const spki = toBase64(new Uint8Array(await subtle().exportKey('spki', pair.publicKey)));
      expect(await codeOf(identityId({ ...agent.pub, signPub: spki }))).toBe('bad-message');
    }
  });

  it('refuses a register credential signed with a canonical key but carrying padded keys', async () => {
    // The signature is genuine (the same private key); only the encoding of the public key differs.
    const pub = { ...agent.pub, signPub: padded(agent.pub.signPub, [7]) };
    const body = { v: 1, purpose: 'register', kind: 'agent', fleet: admin.fleetId, ...pub, id: await naiveId(pub), ts: Date.now() } as const;
    const token = `fc1.${toBase64Url(utf8(canonicalJson({ body, sig: await signText(agent.keys.sign.privateKey, canonicalJson(body)) })))}`;
    await expect(verifyPeerCredential(token, { purpose: 'register' })).rejects.toThrow(/canonical/);
    const genuine = await createPeerCredential(agent.keys, { ...agent.pub, purpose: 'register', kind: 'agent', fleet: admin.fleetId });
    expect((await verifyPeerCredential(genuine, { purpose: 'register' })).id).toBe(agent.id);
  });

  it('refuses a revocation list offered with a padded fleet key', async () => {
    const list = await issueRevocationList(admin.fleetKeys!.privateKey, admin.fleetId, 1, []);
    expect(await codeOf(verifyRevocationList(list, padded(admin.fleetPub, [0]), admin.fleetId))).not.toBe('accepted');
    expect((await verifyRevocationList(list, admin.fleetPub, admin.fleetId)).body.version).toBe(1);
  });
});
