// werift's SCTP (patched) and the peer's delayed SACK: a receiver acks every second packet, or a
// packet that ends a message, else after 200 ms. A sender whose window holds one packet that
// does not end a message used to wait those 200 ms: a 30 KiB push right after the path was
// probed for 16,000-byte packets took ~210 ms instead of ~3 (issue 4's cold push30k). Two real
// werift peers in one process, on loopback (run inside `unshare -n`, as the unit tier is).

import { afterEach, describe, expect, it } from 'vitest';
import { RTCPeerConnection, type RTCDataChannel } from 'werift';

/** The patched association's fields this test reads (werift keeps them on RTCSctpTransport.sctp). */
interface Association {
  cwnd: number;
  sackNeeded: boolean;
  sackImmediate: boolean;
  sendSack(): Promise<void>;
  probePacketSize(payload: number, timeoutMs?: number): Promise<boolean>;
  setMaxPayload(payload: number): void;
}

const sctpOf = (pc: RTCPeerConnection) => (pc.sctpTransport as unknown as { sctp: Association }).sctp;

async function connectedPair() {
  const a = new RTCPeerConnection({ iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'] });
  const b = new RTCPeerConnection({ iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'] });
  a.onIceCandidate.subscribe((c) => void (c && b.addIceCandidate(c).catch(() => undefined)));
  b.onIceCandidate.subscribe((c) => void (c && a.addIceCandidate(c).catch(() => undefined)));
  const sending = a.createDataChannel('window', { ordered: true });
  const receiving = new Promise<RTCDataChannel>((resolve) =>
    b.onDataChannel.subscribe((dc) => dc.stateChanged.subscribe((s) => void (s === 'open' && resolve(dc)))),
  );
  const sendingOpen = new Promise<void>((resolve) => sending.stateChanged.subscribe((s) => void (s === 'open' && resolve())));
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription!);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription!);
  const [received] = await Promise.all([receiving, sendingOpen]);
  return { a, b, sending, received };
}

const open: RTCPeerConnection[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((pc) => pc.close()));
});

/** A connected pair whose path was probed for, and uses, 16,000-byte packets both ways. */
async function probedPair() {
  const pair = await connectedPair();
  open.push(pair.a, pair.b);
  for (const pc of [pair.a, pair.b]) {
    expect(await sctpOf(pc).probePacketSize(16_000)).toBe(true);
    sctpOf(pc).setMaxPayload(16_000);
  }
  return pair;
}

/** Counts the SACKs the receiver sends from its 200 ms timer rather than at once. */
function countDelayedSacks(receiver: Association): { readonly count: number } {
  const counter = { count: 0 };
  const original = receiver.sendSack.bind(receiver);
  receiver.sendSack = () => {
    if (receiver.sackNeeded && !receiver.sackImmediate) counter.count++;
    return original();
  };
  return counter;
}

function nextMessage(dc: RTCDataChannel): Promise<Buffer> {
  return new Promise((resolve) => {
    const sub = dc.onMessage.subscribe((m) => {
      sub.unSubscribe();
      resolve(typeof m === 'string' ? Buffer.from(m) : m);
    });
  });
}

describe('werift SCTP window and the delayed SACK', () => {
  it('sends a 30 KiB message in 16,000-byte packets without waiting for a delayed SACK', async () => {
    const { a, b, sending, received } = await probedPair();
    // The initial window, counted in packets of the new size (RFC 4960 7.2.1: two of them).
    expect(sctpOf(a).cwnd).toBeGreaterThanOrEqual(32_000);
    const delayed = countDelayedSacks(sctpOf(b));
    const body = Buffer.alloc(30 * 1024, 7);
    const arrived = nextMessage(received);
    sending.send(body);
    expect((await arrived).equals(body)).toBe(true);
    expect(delayed.count).toBe(0);
  });

  it('asks for an immediate SACK when its window holds a single packet (RFC 7053 I bit)', async () => {
    const { a, b, sending, received } = await probedPair();
    // As after a retransmission timeout: room for one packet.
    sctpOf(a).cwnd = 16_000;
    const delayed = countDelayedSacks(sctpOf(b));
    for (let i = 0; i < 3; i++) {
      const body = Buffer.alloc(60 * 1024, i);
      const arrived = nextMessage(received);
      sending.send(body);
      expect((await arrived).equals(body)).toBe(true);
    }
    expect(delayed.count).toBe(0);
  });
});
