import { X509Certificate, createPrivateKey, createVerify } from 'node:crypto';
import { Certificate, PrivateKey } from '@fidm/x509';
import { describe, expect, it } from 'vitest';
import { RTCCertificate } from 'werift';
import { selfSignedDtlsKeys, serialFrom } from './dtls-cert.ts';

describe('selfSignedDtlsKeys', () => {
  it('makes a self-signed P-256 certificate that OpenSSL verifies, with its private key', () => {
    const now = Date.UTC(2026, 10, 22, 10, 0, 0);
    const keys = selfSignedDtlsKeys(now);
    const cert = new X509Certificate(keys.certPem);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.subject).toBe('CN=WebRTC');
    expect(cert.issuer).toBe('CN=WebRTC');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(new Date(cert.validFrom).getTime()).toBe(now - 24 * 3600_000);
    expect(new Date(cert.validTo).getTime()).toBe(now + 365 * 24 * 3600_000);
    expect(cert.checkPrivateKey(createPrivateKey(keys.keyPem))).toBe(true);
  });

  it('is read by werift (node:crypto since our patch) with the fingerprint OpenSSL computes', () => {
    const keys = selfSignedDtlsKeys();
    const read = new RTCCertificate(keys.keyPem, keys.certPem, keys.signatureHash);
    const [fingerprint] = read.getFingerprints();
    expect(fingerprint?.algorithm).toBe('sha-256');
    expect(fingerprint?.value.toUpperCase()).toBe(new X509Certificate(keys.certPem).fingerprint256);
  });

  it('encodes the serial as a minimal positive DER INTEGER, whatever the random bytes', () => {
    for (const first of [0x00, 0x01, 0x3f, 0x7f, 0x80, 0xff]) {
      const serial = serialFrom(Buffer.from([first, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]));
      expect(serial[0]).toBeGreaterThanOrEqual(0x40); // no padding byte needed or allowed
      expect(serial[0]).toBeLessThan(0x80); // positive
      expect(serial.subarray(1)).toEqual(Buffer.from([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]));
    }
    // Many certificates in a row all parse (one in 256 failed when the first byte could be 0).
    for (let i = 0; i < 300; i++) expect(() => new X509Certificate(selfSignedDtlsKeys().certPem)).not.toThrow();
  });

  it('parses with @fidm/x509 (the CommonJS build of werift still reads it so), and the key signs what the certificate verifies', () => {
    const keys = selfSignedDtlsKeys();
    const cert = Certificate.fromPEM(Buffer.from(keys.certPem));
    expect(cert.publicKey.algo).toBe('ecEncryption');
    const key = PrivateKey.fromPEM(Buffer.from(keys.keyPem));
    const signature = key.sign(Buffer.from('dtls transcript'), 'sha256');
    expect(createVerify('sha256').update('dtls transcript').verify(keys.certPem, signature)).toBe(true);
  });

  it('gives every call a new key and serial', () => {
    const a = new X509Certificate(selfSignedDtlsKeys().certPem);
    const b = new X509Certificate(selfSignedDtlsKeys().certPem);
    expect(a.fingerprint256).not.toBe(b.fingerprint256);
    expect(a.serialNumber).not.toBe(b.serialNumber);
  });
});
