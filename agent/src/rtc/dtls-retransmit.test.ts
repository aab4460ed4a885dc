// werift's DTLS handshake when a flight is slow and the client sends its ClientHello again (its
// first retransmission timer is 0.5 s): the copies and the answers to them must not restart or
// break the handshake (RFC 6347 4.2.4). A controller dialing 45 hosts on a loaded machine hit
// exactly this (patches/werift+0.24.4.patch, docs/architecture.md). The client and server are
// werift's own; between them is a network that holds back chosen datagrams.

import { afterEach, describe, expect, it } from 'vitest';
import { DtlsClient, DtlsServer } from 'werift';
import { selfSignedDtlsKeys } from './dtls-cert.ts';

type Side = 'client' | 'server';

/** One end of an in-memory datagram link, as werift's DTLS sockets take a transport. */
type End = ConstructorParameters<typeof DtlsServer>[0]['transport'];

/**
 * A lossless network where `hold(side, i)` keeps back datagram i sent by that side until
 * `release` runs; `onSend` sees every datagram as it is sent, with its index.
 */
function network(o: {
  hold?: (from: Side, index: number) => boolean;
  onSend?: (from: Side, index: number, release: () => void) => void;
}) {
  const sent: Record<Side, number> = { client: 0, server: 0 };
  const held: Array<() => void> = [];
  let closed = false;
  const ends = {} as Record<Side, End>;
  const other = (s: Side): Side => (s === 'client' ? 'server' : 'client');
  const release = () => held.splice(0).forEach((deliver) => deliver());
  const address = { address: '127.0.0.1', family: 'IPv4', port: 0 };
  for (const side of ['client', 'server'] as const) {
    ends[side] = {
      type: 'memory',
      address,
      closed: false,
      onData: () => undefined,
      send: async (buf: Buffer) => {
        const index = sent[side]++;
        const deliver = () => {
          if (!closed) setImmediate(() => ends[other(side)].onData(Buffer.from(buf), ['127.0.0.1', 0]));
        };
        if (o.hold?.(side, index)) held.push(deliver);
        else deliver();
        o.onSend?.(side, index, release);
      },
      close: async () => undefined,
    };
  }
  return {
    ends,
    sent,
    release,
    close: () => {
      closed = true;
    },
  };
}

function dtlsPair(net: ReturnType<typeof network>) {
  const options = (transport: End) => {
    const keys = selfSignedDtlsKeys();
    return { cert: keys.certPem, key: keys.keyPem, signatureHash: keys.signatureHash, transport, extendedMasterSecret: true, certificateRequest: true };
  };
  const server = new DtlsServer(options(net.ends.server));
  const client = new DtlsClient(options(net.ends.client));
  const errors: string[] = [];
  const connected = (s: DtlsServer | DtlsClient, name: Side) =>
    new Promise<void>((resolve) => {
      s.onConnect.once(() => resolve());
      s.onError.once((e: unknown) => errors.push(`${name}: ${String(e)}`));
    });
  const both = Promise.all([connected(server, 'server'), connected(client, 'client')]);
  void client.connect().catch((e: unknown) => errors.push(`client connect: ${String(e)}`));
  return { server, client, both, errors };
}

/** Sends application data each way and resolves with what arrived. */
async function exchange(server: DtlsServer, client: DtlsClient): Promise<string[]> {
  const got: string[] = [];
  const arrived = new Promise<void>((resolve) => {
    const note = (from: string) => (buf: Buffer) => {
      got.push(`${from}:${buf.toString()}`);
      if (got.length === 2) resolve();
    };
    server.onData.subscribe(note('at server'));
    client.onData.subscribe(note('at client'));
  });
  await client.send(Buffer.from('from client'));
  await server.send(Buffer.from('from server'));
  await Promise.race([arrived, new Promise((r) => setTimeout(r, 3000))]);
  return got.sort();
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))]);

const cleanup: Array<() => void> = [];
afterEach(() => cleanup.splice(0).forEach((f) => f()));

describe('werift DTLS with retransmitted ClientHellos', () => {
  it('connects when the HelloVerifyRequest to the first ClientHello arrives after the one to its copy', async () => {
    // Server datagram 0 answers the first ClientHello; it is held until the client has sent its
    // third datagram (the ClientHello with the cookie from the second answer).
    const net = network({
      hold: (from, i) => from === 'server' && i === 0,
      onSend: (from, i, release) => {
        if (from === 'client' && i === 2) release();
      },
    });
    const { server, client, both, errors } = dtlsPair(net);
    cleanup.push(() => net.close(), () => server.close(), () => client.close());
    await within(both, 8000, `handshake (errors: ${errors.join('; ')})`);
    expect(errors).toEqual([]);
    expect(net.sent.client).toBeGreaterThanOrEqual(3); // the ClientHello did go out twice
    expect(await exchange(server, client)).toEqual(['at client:from server', 'at server:from client']);
  });

  it('connects when the first ClientHello reaches the server after it sent flight 4', async () => {
    const net = network({
      hold: (from, i) => from === 'client' && i === 0,
      onSend: (from, i, release) => {
        if (from === 'server' && i === 1) release(); // server datagram 1 carries flight 4
      },
    });
    const { server, client, both, errors } = dtlsPair(net);
    cleanup.push(() => net.close(), () => server.close(), () => client.close());
    await within(both, 8000, `handshake (errors: ${errors.join('; ')})`);
    expect(errors).toEqual([]);
    expect(await exchange(server, client)).toEqual(['at client:from server', 'at server:from client']);
  });

  it('keeps the session when a ClientHello from before the handshake arrives after it', async () => {
    const net = network({ hold: (from, i) => from === 'client' && i === 0 });
    const { server, client, both, errors } = dtlsPair(net);
    cleanup.push(() => net.close(), () => server.close(), () => client.close());
    await within(both, 8000, `handshake (errors: ${errors.join('; ')})`);
    net.release();
    await new Promise((r) => setTimeout(r, 100));
    expect(errors).toEqual([]);
    expect(await exchange(server, client)).toEqual(['at client:from server', 'at server:from client']);
  });
});
