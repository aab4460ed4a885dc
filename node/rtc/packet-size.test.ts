import { describe, expect, it } from 'vitest';
import {
  BASE_PAYLOAD,
  MAX_PAYLOAD,
  WANTED_UDP_BUFFER,
  candidatePayloads,
  interfaceMtu,
  overheadFor,
  routeSource,
  tunePacketSize,
  udpBufferCaps,
  type SizableSctp,
} from './packet-size.ts';

/** An association whose path carries packets up to `pathLimit` bytes of payload. */
function association(pathLimit: number) {
  const probed: number[] = [];
  const sctp: SizableSctp = {
    maxPayload: 1200,
    probePacketSize: async (payload) => {
      probed.push(payload);
      return payload <= pathLimit;
    },
    setMaxPayload(payload) {
      this.maxPayload = payload;
    },
  };
  return { sctp, probed };
}

describe('SCTP packet size', () => {
  it('fits a packet and its headers in the MTU', () => {
    // 1500-byte Ethernet, IPv4: 1500 - 20 IP - 8 UDP - 64 DTLS - 28 SCTP.
    expect(candidatePayloads(1500, 4)).toEqual([1500 - overheadFor(4)]);
    expect(1500 - overheadFor(4)).toBe(1380);
    expect(candidatePayloads(1500, 6)).toEqual([1360]);
    // Loopback: the DTLS record limit, then the Ethernet size as a fallback.
    expect(candidatePayloads(65536, 4)).toEqual([MAX_PAYLOAD, 1380]);
    expect(candidatePayloads(9000, 4)).toEqual([9000 - overheadFor(4), 1380]);
    // Nothing worth probing on small MTUs.
    expect(candidatePayloads(1280, 6)).toEqual([]);
    expect(candidatePayloads(1400, 4)).toEqual([]);
  });

  it('uses the largest size the path echoes', async () => {
    const { sctp, probed } = association(100_000);
    expect(await tunePacketSize(sctp, { relayed: false, localAddress: '127.0.0.1' }, { mtuOf: () => 65536 })).toEqual({
      payload: MAX_PAYLOAD,
      mtu: 65536,
      probes: [{ payload: MAX_PAYLOAD, ok: true }],
    });
    expect(sctp.maxPayload).toBe(MAX_PAYLOAD);
    expect(probed).toEqual([MAX_PAYLOAD]);
  });

  it('falls back to the Ethernet size when jumbo packets vanish, and to the base size when nothing passes', async () => {
    const jumbo = association(1400);
    expect(await tunePacketSize(jumbo.sctp, { relayed: false, localAddress: '10.0.0.2' }, { mtuOf: () => 9000 })).toMatchObject({ payload: 1380, mtu: 9000 });
    expect(jumbo.probed).toEqual([9000 - overheadFor(4), 1380]);
    const none = association(1200);
    none.sctp.maxPayload = 9000; // a previous path's size is dropped before probing
    expect(await tunePacketSize(none.sctp, { relayed: false, localAddress: '10.0.0.2' }, { mtuOf: () => 9000 })).toMatchObject({
      payload: BASE_PAYLOAD,
      probes: [{ ok: false }, { ok: false }],
    });
    expect(none.sctp.maxPayload).toBe(BASE_PAYLOAD);
  });

  it('keeps the base size on relayed paths and when the MTU is unknown, without probing', async () => {
    const relayed = association(100_000);
    relayed.sctp.maxPayload = MAX_PAYLOAD;
    expect(await tunePacketSize(relayed.sctp, { relayed: true, localAddress: '127.0.0.1' }, { mtuOf: () => 65536 })).toEqual({
      payload: BASE_PAYLOAD,
      probes: [],
    });
    expect(relayed.sctp.maxPayload).toBe(BASE_PAYLOAD);
    const unknown = association(100_000);
    expect(await tunePacketSize(unknown.sctp, { relayed: false, localAddress: '192.0.2.9' }, { mtuOf: () => undefined })).toEqual({
      payload: BASE_PAYLOAD,
      probes: [],
    });
    expect([...relayed.probed, ...unknown.probed]).toEqual([]);
  });

  it('reads the MTU of the interface that has the address', () => {
    expect(interfaceMtu('127.0.0.1', (name) => (name === 'lo' ? 65536 : 0))).toBe(65536);
    expect(interfaceMtu('192.0.2.250', () => 1500)).toBeUndefined(); // no interface has it
    expect(
      interfaceMtu('127.0.0.1', () => {
        throw new Error('no /sys');
      }),
    ).toBeUndefined();
  });

  it('asks the kernel which address a packet to the peer leaves from', async () => {
    expect(await routeSource('127.0.0.1')).toBe('127.0.0.1');
    expect(await routeSource('127.0.0.53')).toBe('127.0.0.1'); // all of 127/8 is loopback
    // A name (an mDNS candidate) says nothing.
    expect(await routeSource('peer.local')).toBeUndefined();
  });

  it('reports kernel caps on socket buffers below what werift asks for', () => {
    expect(udpBufferCaps((name) => (name === 'rmem_max' ? 212992 : WANTED_UDP_BUFFER))).toEqual({ rmemMax: 212992, wmemMax: WANTED_UDP_BUFFER });
    expect(udpBufferCaps(() => WANTED_UDP_BUFFER)).toBeUndefined();
    expect(
      udpBufferCaps(() => {
        throw new Error('not Linux');
      }),
    ).toBeUndefined();
  });
});
