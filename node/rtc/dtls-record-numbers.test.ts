// werift's DTLS record sequence numbers, read off the wire of a real werift client and server.
// A receiver drops a record whose (epoch, sequence number) it has seen (RFC 6347 4.1.2.6,
// replay detection, which Chromium's BoringSSL does): upstream werift gave its Finished the
// next epoch-0 number, then restarted epoch 1 at 1, so one later record repeated the
// Finished's number and Chromium dropped it. Every browser connection then waited a second
// for the SCTP retransmission of that record (bench/README.md, "Browser cold").
import { describe, expect, it } from 'vitest';
import { dtlsPair, network, type Side } from './dtls-test-support.ts';

interface RecordHeader {
  type: number;
  epoch: number;
  seq: number;
}

/** The DTLS 1.2 record headers in one datagram (several records may share it). */
function records(datagram: Buffer): RecordHeader[] {
  const out: RecordHeader[] = [];
  for (let at = 0; at + 13 <= datagram.length;) {
    const length = datagram.readUInt16BE(at + 11);
    out.push({ type: datagram[at]!, epoch: datagram.readUInt16BE(at + 3), seq: datagram.readUIntBE(at + 5, 6) });
    at += 13 + length;
  }
  return out;
}

describe('werift DTLS record sequence numbers', () => {
  it('never repeat within an epoch, from the handshake through application data, on either side', async () => {
    const seen: Record<Side, RecordHeader[]> = { client: [], server: [] };
    const net = network({});
    for (const side of ['client', 'server'] as const) {
      const end = net.ends[side];
      const send = end.send.bind(end);
      end.send = async (buf: Buffer) => {
        seen[side].push(...records(buf));
        return send(buf);
      };
    }
    const { server, client, both, errors } = dtlsPair(net);
    await both;
    const arrived: Record<Side, number> = { client: 0, server: 0 };
    server.onData.subscribe(() => arrived.server++);
    client.onData.subscribe(() => arrived.client++);
    for (let i = 0; i < 12; i++) {
      await client.send(Buffer.from(`client ${i}`));
      await server.send(Buffer.from(`server ${i}`));
    }
    for (let wait = 0; wait < 100 && (arrived.client < 12 || arrived.server < 12); wait++) await new Promise((r) => setTimeout(r, 10));
    net.close();
    expect(errors).toEqual([]);
    expect(arrived).toEqual({ client: 12, server: 12 });

    for (const side of ['client', 'server'] as const) {
      const keys = seen[side].map((r) => `${r.epoch}/${r.seq}`);
      const repeated = keys.filter((k, i) => keys.indexOf(k) !== i);
      expect(repeated, `${side} sent these (epoch/sequence) twice: ${repeated.join(', ')}`).toEqual([]);
      // Epoch 1 (Finished, then application data, type 23) counts up in sending order.
      const epoch1 = seen[side].filter((r) => r.epoch === 1);
      expect(epoch1.filter((r) => r.type === 23)).toHaveLength(12);
      expect(epoch1.map((r) => r.seq)).toEqual([...epoch1.map((r) => r.seq)].sort((a, b) => a - b));
    }
  });
});
