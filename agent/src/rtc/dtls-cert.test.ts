import { X509Certificate, createPrivateKey, createVerify } from 'node:crypto';
import { Certificate, PrivateKey } from '@fidm/x509';
import { describe, expect, it } from 'vitest';
import { selfSignedDtlsKeys } from './dtls-cert.ts';

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

  it('parses with @fidm/x509 the way werift reads it, and the key signs what the certificate verifies', () => {
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
