// The signaling client against a fake, hostile signaling server (the happy path against the
// real PeerServer lives in rtc-endpoint.test.ts).

import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { PeerjsMessage } from '../../shared/wire/peerjs-messages.ts';
import { createSignalingClient, signalingSocketUrl, type SignalingClient } from './signaling-client.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A WebSocket server on loopback that runs `script` for each connection. */
async function fakeServer(script: (socket: WebSocket, url: string) => void): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => new Promise((resolve) => wss.close(resolve)));
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (socket, req) => script(socket, req.url ?? ''));
  const address = wss.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
}

function client(options: Parameters<typeof createSignalingClient>[0]): SignalingClient {
  const c = createSignalingClient(options);
  cleanups.push(() => c.close());
  return c;
}

describe('signaling client against a hostile server', () => {
  it('builds the PeerJS socket URL', () => {
    expect(signalingSocketUrl('https://signal.example:8443/fleet', 'a b', 't', 'peerjs')).toBe(
      'wss://signal.example:8443/fleet/peerjs?key=peerjs&id=a+b&token=t&version=1.5.5',
    );
    expect(signalingSocketUrl('http://127.0.0.1:9000/', 'a', 't', 'k')).toBe('ws://127.0.0.1:9000/peerjs?key=k&id=a&token=t&version=1.5.5');
    expect(() => signalingSocketUrl('ftp://x/', 'a', 't', 'k')).toThrow(FlotillaError);
  });

  it('ignores non-JSON, binary and ill-shaped messages and keeps the valid ones', async () => {
    const requests: string[] = [];
    const url = await fakeServer((socket, path) => {
      requests.push(path);
      socket.send(JSON.stringify({ type: 'OPEN' }));
      socket.send('{not json');
      socket.send(Buffer.from([1, 2, 3]), { binary: true });
      socket.send(JSON.stringify({ type: 'OFFER' }));
      socket.send(JSON.stringify({ type: 'CANDIDATE', src: 'x', payload: {} }));
      socket.send(JSON.stringify({ type: 'ANSWER', src: 'x', payload: { sdp: { type: 'offer', sdp: 'v=0' }, type: 'data', connectionId: 'c' } }));
      socket.send(JSON.stringify({ type: 'LEAVE', src: 'zed' }));
    });
    const received: PeerjsMessage[] = [];
    const bad: string[] = [];
    const c = client({ url, id: 'victim', token: 'tok', log: (event) => event === 'signaling-bad-message' && bad.push(event) });
    c.onMessage((m) => received.push(m));
    await c.whenOpen();
    await vi.waitFor(() => expect(received).toEqual([{ type: 'LEAVE', src: 'zed' }]));
    expect(bad).toHaveLength(5);
    expect(c.state).toBe('open');
    expect(requests[0]).toBe('/peerjs?key=peerjs&id=victim&token=tok&version=1.5.5');
  });

  it('asks a token provider for a fresh token on every attempt', async () => {
    let issued = 0;
    const tokens: string[] = [];
    const url = await fakeServer((socket, path) => {
      tokens.push(new URL(path, 'http://x').searchParams.get('token') ?? '');
      // The first attempt is dropped without a word; the second is welcomed.
      if (tokens.length === 1) socket.terminate();
      else socket.send(JSON.stringify({ type: 'OPEN' }));
    });
    const c = client({ url, id: 'agent', token: () => Promise.resolve(`signed-${++issued}`) });
    await c.whenOpen();
    expect(tokens).toEqual(['signed-1', 'signed-2']);
  });

  it('fails whenOpen when the token provider fails and reconnecting is off', async () => {
    const url = await fakeServer((socket) => socket.send(JSON.stringify({ type: 'OPEN' })));
    const c = client({ url, id: 'agent', token: () => Promise.reject(new Error('no key')), reconnect: false });
    await expect(c.whenOpen()).rejects.toMatchObject({ code: 'signaling-failed', detail: expect.stringContaining('no key') });
    expect(c.state).toBe('closed');
  });

  it('keeps retrying a server that is not there and says why in lastFailure', async () => {
    // A port that was just free: nothing listens, so every attempt is refused.
    const url = await fakeServer(() => undefined);
    await Promise.all(cleanups.splice(0).map((fn) => fn()));
    const c = client({ url, id: 'agent', token: 't' });
    expect(c.lastFailure).toBeUndefined();
    await vi.waitFor(() => expect(c.lastFailure).toMatch(/ECONNREFUSED/));
    expect(c.state).toBe('connecting');
  });

  it('accepts a server that re-attaches our id without saying OPEN', async () => {
    // PeerServer does this when the same id and token reconnect before it noticed the old socket die.
    const url = await fakeServer(() => undefined);
    const c = client({ url, id: 'agent', token: 't' });
    await c.whenOpen();
    expect(c.state).toBe('open');
  });

  it('rejects whenOpen once closed, and drops later sends', async () => {
    const url = await fakeServer(() => undefined);
    const c = client({ url, id: 'agent', token: 't' });
    const waiting = c.whenOpen();
    c.close();
    await expect(waiting).rejects.toBeInstanceOf(FlotillaError);
    await expect(c.whenOpen()).rejects.toMatchObject({ code: 'signaling-failed' });
    expect(() => c.send({ type: 'HEARTBEAT', dst: '', payload: undefined })).not.toThrow();
    expect(c.state).toBe('closed');
  });

  it('paces what it sends: a burst at once, the rest at the sustained rate, in order, nothing lost', async () => {
    const arrivals: { at: number; n: number }[] = [];
    const url = await fakeServer((socket) => {
      socket.send(JSON.stringify({ type: 'OPEN' }));
      socket.on('message', (data) => {
        const m = JSON.parse(String(data)) as { type: string; payload?: { n?: number } };
        if (m.type === 'CANDIDATE') arrivals.push({ at: performance.now(), n: m.payload?.n ?? -1 });
      });
    });
    const c = client({ url, id: 'fanout', token: 'tok', pace: { perSecond: 40, burst: 10 } });
    await c.whenOpen();
    const t0 = performance.now();
    for (let n = 0; n < 30; n++) c.send({ type: 'CANDIDATE', dst: 'peer', payload: { n } });
    await vi.waitFor(() => expect(arrivals).toHaveLength(30), { timeout: 5_000 });
    expect(arrivals.map((a) => a.n)).toEqual([...Array(30).keys()]);
    // The first 10 go at once; the other 20 take about 20/40 s.
    expect(arrivals[9]!.at - t0).toBeLessThan(200);
    expect(arrivals[29]!.at - t0).toBeGreaterThan(400);
    // Never more than the burst plus what the rate allows, in any window from the start.
    for (const [i, a] of arrivals.entries()) expect(i + 1).toBeLessThanOrEqual(10 + Math.ceil(((a.at - t0) / 1000) * 40) + 1);
  });
});
