// Test helpers for werift's DTLS client and server: an in-memory datagram network between
// them that can hold back chosen datagrams (or rewrite them, as a hostile peer would), a
// connected pair, and one message each way.

import { DtlsClient, DtlsServer } from 'werift';
import { selfSignedDtlsKeys } from './dtls-cert.ts';

export type Side = 'client' | 'server';

/** One end of an in-memory datagram link, as werift's DTLS sockets take a transport. */
type End = ConstructorParameters<typeof DtlsServer>[0]['transport'];

/**
 * A lossless network where `hold(side, i)` keeps back datagram i sent by that side until
 * `release` runs; `onSend` sees every datagram as it is sent, with its index.
 */
export function network(o: {
  hold?: (from: Side, index: number) => boolean;
  /** Replaces a datagram on its way (a hostile peer). */
  rewrite?: (from: Side, index: number, datagram: Buffer) => Buffer;
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
        const datagram = o.rewrite ? o.rewrite(side, index, Buffer.from(buf)) : Buffer.from(buf);
        const deliver = () => {
          if (!closed) setImmediate(() => ends[other(side)].onData(datagram, ['127.0.0.1', 0]));
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

export function dtlsPair(net: ReturnType<typeof network>) {
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
export async function exchange(server: DtlsServer, client: DtlsClient): Promise<string[]> {
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

export const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))]);
