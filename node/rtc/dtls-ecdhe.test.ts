// werift's DTLS key agreement, which our patch moves from JavaScript (tweetnacl, @noble/curves)
// to node:crypto (patches/werift+0.24.4.patch): both curves a peer may offer agree on a key
// that carries data both ways, and a peer that sends a bad key share fails the handshake
// without taking the process down. Chromium's own DTLS (X25519) is covered by the browser tests.

import { afterEach, describe, expect, it } from 'vitest';
import { NamedCurveAlgorithm, NamedCurveAlgorithmList, type DtlsServer } from 'werift';
import { dtlsPair, exchange, network, within } from './dtls-test-support.ts';

const cleanup: Array<() => void> = [];
afterEach(() => cleanup.splice(0).forEach((f) => f()));

/** The curve the server picked (werift keeps it on the socket's cipher context). */
const curveOf = (server: DtlsServer) => (server as unknown as { cipher: { namedCurve?: number } }).cipher.namedCurve;

/** Offers only `curves` in the ClientHello (werift's client sends this list as it is). */
function offering(curves: number[]): void {
  const list = NamedCurveAlgorithmList as number[];
  const saved = list.splice(0, list.length, ...curves);
  cleanup.push(() => list.splice(0, list.length, ...saved));
}

/**
 * The same datagram with the key share of its ClientKeyExchange (handshake type 16) zeroed:
 * for X25519 an all-zero point, whose shared secret is zero too (RFC 7748 6.1).
 */
function zeroKeyShare(datagram: Buffer): Buffer {
  for (let at = 0; at + 13 <= datagram.length;) {
    const length = datagram.readUInt16BE(at + 11);
    const body = at + 13;
    if (datagram[at] === 22 && datagram[body] === 16) {
      const keyLength = datagram[body + 12] ?? 0;
      datagram.fill(0, body + 13, body + 13 + keyLength);
    }
    at = body + length;
  }
  return datagram;
}

describe('werift DTLS key agreement (ECDHE)', () => {
  for (const [name, curve] of [
    ['X25519', NamedCurveAlgorithm.x25519_29],
    ['P-256', NamedCurveAlgorithm.secp256r1_23],
  ] as const) {
    it(`agrees a key over ${name} and carries data both ways`, async () => {
      offering([curve]);
      const net = network({});
      const { server, client, both, errors } = dtlsPair(net);
      cleanup.push(
        () => net.close(),
        () => server.close(),
        () => client.close(),
      );
      await within(both, 8000, `handshake (errors: ${errors.join('; ')})`);
      expect(errors).toEqual([]);
      expect(curveOf(server)).toBe(curve);
      expect(await exchange(server, client)).toEqual(['at client:from server', 'at server:from client']);
    });
  }

  it('fails the handshake, and nothing else, when the client sends an all-zero X25519 key', async () => {
    offering([NamedCurveAlgorithm.x25519_29]);
    let rewritten = 0;
    const net = network({
      rewrite: (from, _i, datagram) => {
        if (from !== 'client') return datagram;
        const before = Buffer.from(datagram);
        const after = zeroKeyShare(datagram);
        if (!after.equals(before)) rewritten++;
        return after;
      },
    });
    const { server, client, both, errors } = dtlsPair(net);
    cleanup.push(
      () => net.close(),
      () => server.close(),
      () => client.close(),
    );
    let connected = false;
    void both.then(() => (connected = true));
    const deadline = Date.now() + 5000;
    while (!errors.some((e) => e.startsWith('server')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(rewritten).toBeGreaterThan(0);
    expect(errors.filter((e) => e.startsWith('server')).length).toBeGreaterThan(0);
    expect(connected).toBe(false);
  });
});
