// A DTLS certificate per connection, made with node:crypto and a few lines of DER. werift's own
// generator (CipherContext.createSelfSignedCertificateWithKey) needs @peculiar/x509, whose
// schema classes and dependencies hold about 8 MiB of an idle agent's memory; the agent
// bundle leaves that library out (scripts/build-agent.mjs) and makes its certificates here.

import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { HashAlgorithm, SignatureAlgorithm, type DtlsKeys } from 'werift';

/** DER: one tag-length-value. */
function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const SEQUENCE = 0x30;
/** ecdsa-with-SHA256 (1.2.840.10045.4.3.2), without parameters. */
const ECDSA_SHA256 = tlv(SEQUENCE, Buffer.from('06082a8648ce3d040302', 'hex'));
/** CN=WebRTC, the name browsers give their DTLS certificates (nothing about this host). */
const NAME = tlv(SEQUENCE, tlv(0x31, tlv(SEQUENCE, Buffer.from('0603550403', 'hex'), tlv(0x0c, Buffer.from('WebRTC')))));
/** Peers check the fingerprint, not the dates; notBefore a day back tolerates a slow clock. */
const VALID_BEFORE_MS = 24 * 3600_000;
const VALID_AFTER_MS = 365 * 24 * 3600_000;

/** UTCTime (YYMMDDHHMMSSZ), which RFC 5280 requires for dates before 2050. */
function utcTime(ms: number): Buffer {
  const iso = new Date(ms).toISOString(); // 2026-11-22T10:51:58.123Z
  return tlv(0x17, Buffer.from(`${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`));
}

/**
 * The random bytes as a certificate serial in DER: a positive INTEGER in its shortest form. The
 * top bit clear keeps it positive and the next one set keeps it minimal (a leading 0x00 before
 * a byte below 0x80 is padding that OpenSSL refuses with "illegal padding"; one certificate in
 * 256 had it before 2026-11-22).
 */
export function serialFrom(random: Buffer): Buffer {
  const serial = Buffer.from(random);
  serial[0] = 0x40 | ((serial[0] ?? 0) & 0x3f);
  return serial;
}

/**
 * werift's DTLS keys plus the key as an object: our patch of werift signs with it rather than
 * parse the PEM again (OpenSSL 3 takes ~0.4 ms per parse, far more on a busy host).
 */
export type DtlsKeysWithObject = DtlsKeys & { keyObject: KeyObject };

/** A self-signed X.509 v3 certificate for a fresh ECDSA P-256 key, and that key, as werift takes them. */
export function selfSignedDtlsKeys(now = Date.now()): DtlsKeysWithObject {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const serial = serialFrom(randomBytes(8));
  const tbs = tlv(
    SEQUENCE,
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // version v3
    tlv(0x02, serial),
    ECDSA_SHA256,
    NAME,
    tlv(SEQUENCE, utcTime(now - VALID_BEFORE_MS), utcTime(now + VALID_AFTER_MS)),
    NAME,
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, privateKey); // DER-encoded ECDSA signature
  const der = tlv(SEQUENCE, tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), signature));
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keyObject: privateKey,
    signatureHash: { signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 },
  };
}
