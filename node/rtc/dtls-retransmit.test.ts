// werift's DTLS handshake when a flight is slow and the client sends its ClientHello again (its
// first retransmission timer is 0.5 s): the copies and the answers to them must not restart or
// break the handshake (RFC 6347 4.2.4). A controller dialing 45 hosts on a loaded machine hit
// exactly this (patches/werift+0.24.4.patch, docs/architecture.md). The client and server are
// werift's own; between them is a network that holds back chosen datagrams.

import { afterEach, describe, expect, it } from 'vitest';
import { dtlsPair, exchange, network, within } from './dtls-test-support.ts';

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
    cleanup.push(
      () => net.close(),
      () => server.close(),
      () => client.close(),
    );
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
    cleanup.push(
      () => net.close(),
      () => server.close(),
      () => client.close(),
    );
    await within(both, 8000, `handshake (errors: ${errors.join('; ')})`);
    expect(errors).toEqual([]);
    expect(await exchange(server, client)).toEqual(['at client:from server', 'at server:from client']);
  });

  it('keeps the session when a ClientHello from before the handshake arrives after it', async () => {
    const net = network({ hold: (from, i) => from === 'client' && i === 0 });
    const { server, client, both, errors } = dtlsPair(net);
    cleanup.push(
      () => net.close(),
      () => server.close(),
      () => client.close(),
    );
    await within(both, 8000, `handshake (errors: ${errors.join('; ')})`);
    net.release();
    await new Promise((r) => setTimeout(r, 100));
    expect(errors).toEqual([]);
    expect(await exchange(server, client)).toEqual(['at client:from server', 'at server:from client']);
  });
});
