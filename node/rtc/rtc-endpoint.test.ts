// Two real werift endpoints through a real PeerServer on loopback (run inside `unshare -n`),
// plus a hostile peer sending garbage through the server.

import { randomBytes } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { PeerServer, type IConfig } from 'peer';
import { RTCPeerConnection } from 'werift';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { RawLink } from '../../shared/session/transport.ts';
import { createRtcEndpoint, type RtcEndpoint } from './rtc-endpoint.ts';
import { createSignalingClient, signalingSocketUrl } from './signaling-client.ts';

// Nothing answers there: werift then spends its 5 s STUN timeout gathering (see the report).
const ICE = [{ urls: 'stun:127.0.0.1:3478' }];
const CONNECT_MS = 60_000;

interface TestServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

async function startPeerServer(port = 0, config: Partial<IConfig> = {}): Promise<TestServer> {
  const sockets = new Set<Duplex>();
  let server: HttpServer | undefined;
  const app = await new Promise<ReturnType<typeof PeerServer>>((resolve) => {
    const peer = PeerServer({ host: '127.0.0.1', port, path: '/', ...config }, (s) => {
      server = s as HttpServer;
      resolve(peer);
    });
  });
  // Without a listener, a client's non-JSON frame becomes an uncaught 'error' event.
  app.on('error', () => undefined);
  const http = server!;
  http.on('upgrade', (_req, socket: Duplex) => sockets.add(socket));
  const address = http.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function endpoint(server: TestServer, id: string, events?: { event: string; fields?: Record<string, unknown> }[]): RtcEndpoint {
  const ep = createRtcEndpoint({
    signalUrl: server.url,
    id,
    token: `token-${id}`,
    iceServers: ICE,
    log: (event, fields) => events?.push(fields ? { event, fields } : { event }),
  });
  cleanups.push(() => ep.close());
  return ep;
}

function nextLink(ep: RtcEndpoint): Promise<RawLink> {
  return new Promise((resolve) => ep.onLink(resolve));
}

/** Sends 16 random bytes and resolves with what comes back. */
function echoRoundTrip(link: RawLink): Promise<{ sent: Uint8Array; got: Uint8Array | string }> {
  const sent = new Uint8Array(randomBytes(16));
  return new Promise((resolve) => {
    link.onMessage((got) => resolve({ sent, got }));
    link.send(sent);
  });
}

function echoEverything(link: RawLink): void {
  link.onMessage((data) => link.send(data));
}

describe('rtc endpoint through a real PeerServer', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startPeerServer();
  });
  afterAll(() => server.close());

  it(
    'connects two endpoints: echo, 1 MiB with backpressure, matching fingerprints, a direct path',
    async () => {
      const a = endpoint(server, 'alpha');
      const b = endpoint(server, 'bravo');
      await Promise.all([a.signaling.whenOpen(), b.signaling.whenOpen()]);
      const answered = nextLink(b);
      const link = await a.dial('bravo', { timeoutMs: 30_000 });
      const peer = await answered;
      expect(link.remoteId).toBe('bravo');
      expect(peer.remoteId).toBe('alpha');

      echoEverything(peer);
      const { sent, got } = await echoRoundTrip(link);
      expect(got).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(got as Uint8Array).equals(Buffer.from(sent))).toBe(true);

      // 1 MiB in 64 KiB messages, the other way round, pacing with waitForDrain.
      const total = new Uint8Array(randomBytes(1024 * 1024));
      const chunks: Uint8Array[] = [];
      let received = 0;
      const allIn = new Promise<void>((resolve) =>
        link.onMessage((data) => {
          if (typeof data === 'string') return;
          chunks.push(data.slice());
          received += data.length;
          if (received >= total.length) resolve();
        }),
      );
      for (let offset = 0; offset < total.length; offset += 64 * 1024) {
        await peer.waitForDrain(256 * 1024);
        peer.send(total.subarray(offset, offset + 64 * 1024));
      }
      await allIn;
      expect(Buffer.concat(chunks).equals(Buffer.from(total))).toBe(true);

      const fingerprint = /^sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/;
      expect(link.localFingerprint).toMatch(fingerprint);
      expect(link.localFingerprint).toBe(peer.remoteFingerprint);
      expect(link.remoteFingerprint).toBe(peer.localFingerprint);
      expect(link.localFingerprint).not.toBe(link.remoteFingerprint);

      for (const l of [link, peer]) {
        const path = await l.path();
        expect(path).toBeDefined();
        expect(['host', 'prflx']).toContain(path!.local);
        expect(['host', 'prflx']).toContain(path!.remote);
        expect(path!.protocol).toBe('udp');
        expect(path!.relayed).toBe(false);
      }

      const closes: string[] = [];
      const peerClosed = new Promise<string>((resolve) => peer.onClose(resolve));
      link.onClose((reason) => closes.push(reason));
      link.close();
      link.close();
      expect(await peerClosed).toEqual(expect.any(String));
      expect(closes).toHaveLength(1);
      expect(() => link.send('late')).toThrow(FlotillaError);
    },
    CONNECT_MS,
  );

  it('rejects a dial to an id nobody registered with unreachable', async () => {
    const a = endpoint(server, 'lonely');
    await a.signaling.whenOpen();
    const error: unknown = await a.dial('nobody-here', { timeoutMs: 3_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlotillaError);
    expect((error as FlotillaError).code).toBe('unreachable');
  });

  it('rejects a dial cancelled by its AbortSignal with unreachable', async () => {
    const a = endpoint(server, 'impatient');
    await a.signaling.whenOpen();
    const controller = new AbortController();
    const dialing = a.dial('nobody-either', { timeoutMs: 30_000, signal: controller.signal });
    controller.abort();
    await expect(dialing).rejects.toMatchObject({ code: 'unreachable' });
  });

  it('reports id-taken to a second client registering the same id', async () => {
    const a = endpoint(server, 'taken');
    await a.signaling.whenOpen();
    const states: string[] = [];
    const second = createSignalingClient({ url: server.url, id: 'taken', token: 'someone-else', reconnect: false });
    cleanups.push(() => second.close());
    second.onState((s, reason) => states.push(`${s}:${reason ?? ''}`));
    await expect(second.whenOpen()).rejects.toMatchObject({ code: 'id-taken' });
    await vi.waitFor(() => expect(second.state).toBe('closed'));
    expect(states[0]).toMatch(/^closed:.*already registered/);
    expect(a.signaling.state).toBe('open');
  });

  it('retries after id-taken and registers once the old holder is gone', async () => {
    const a = endpoint(server, 'restarted');
    await a.signaling.whenOpen();
    const successor = createSignalingClient({ url: server.url, id: 'restarted', token: 'new-process' });
    cleanups.push(() => successor.close());
    await expect(successor.whenOpen()).rejects.toMatchObject({ code: 'id-taken' });
    expect(successor.state).not.toBe('closed');
    await a.close();
    await successor.whenOpen();
    expect(successor.state).toBe('open');
  });

  it('stops retrying when the server refuses the key', async () => {
    const client = createSignalingClient({ url: server.url, id: 'keyless', token: 't', key: 'wrong-key' });
    cleanups.push(() => client.close());
    await expect(client.whenOpen()).rejects.toMatchObject({ code: 'signaling-failed' });
    await vi.waitFor(() => expect(client.state).toBe('closed'));
  });

  it(
    'survives garbage from another peer and still accepts a proper dial',
    async () => {
      const events: { event: string; fields?: Record<string, unknown> }[] = [];
      const b = endpoint(server, 'sturdy', events);
      await b.signaling.whenOpen();
      const mallory = new WebSocket(signalingSocketUrl(server.url, 'mallory', 'm', 'peerjs'));
      cleanups.push(() => mallory.terminate());
      await new Promise((resolve) => mallory.once('message', resolve));
      const dst = 'sturdy';
      const plausible = 'v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=fingerprint:sha-256 AB:CD\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n';
      const garbage: unknown[] = [
        { type: 'OFFER', dst, payload: 'not an object' },
        { type: 'OFFER', dst, payload: { sdp: { type: 'offer', sdp: 'x'.repeat(70_000) }, type: 'data', connectionId: 'dc_huge' } },
        { type: 'ANSWER', dst, payload: { sdp: { type: 'answer', sdp: 'v=0' }, type: 'data', connectionId: 'dc_unknown' } },
        { type: 'CANDIDATE', dst, payload: { candidate: { candidate: 'candidate:junk' }, type: 'data', connectionId: 'dc_bad' } },
        { type: 'CANDIDATE', dst, payload: { candidate: 42, type: 'data', connectionId: 'dc_bad' } },
        { type: 'LEAVE', dst },
        // Passes the sanity check, so werift gets to chew on it; the negotiation just never opens.
        { type: 'OFFER', dst, payload: { sdp: { type: 'offer', sdp: plausible }, type: 'data', connectionId: 'dc_odd' } },
        { type: 'OFFER', dst, payload: { sdp: { type: 'offer', sdp: 'garbage' }, type: 'data', connectionId: 'dc_bad' } },
      ];
      mallory.send('this is not JSON');
      for (const message of garbage) mallory.send(JSON.stringify(message));
      await vi.waitFor(() => expect(events.some((e) => e.fields?.['reason'] === 'not an SDP')).toBe(true));
      expect(events.filter((e) => e.event === 'signaling-bad-message').length).toBeGreaterThanOrEqual(3);

      const a = endpoint(server, 'polite');
      await a.signaling.whenOpen();
      const answered = nextLink(b);
      const link = await a.dial('sturdy', { timeoutMs: 30_000 });
      echoEverything(await answered);
      const { sent, got } = await echoRoundTrip(link);
      expect(Buffer.from(got as Uint8Array).equals(Buffer.from(sent))).toBe(true);
    },
    CONNECT_MS,
  );

  it(
    'keeps CANDIDATEs that overtake their OFFER',
    async () => {
      const b = endpoint(server, 'patient');
      await b.signaling.whenOpen();
      const opened = nextLink(b);
      // A hand-driven werift dialer that sends its candidates before its offer and ignores b's:
      // ICE can then only succeed if b kept the early candidates and checks towards them.
      const sig = createSignalingClient({ url: server.url, id: 'hasty', token: 't' });
      cleanups.push(() => sig.close());
      const pc = new RTCPeerConnection({ iceServers: ICE, iceAdditionalHostAddresses: ['127.0.0.1'] });
      cleanups.push(() => pc.close());
      const dc = pc.createDataChannel('flotilla', { ordered: true });
      const candidates: unknown[] = [];
      pc.onIceCandidate.subscribe((c) => c && candidates.push(c.toJSON()));
      const offer = await pc.createOffer();
      await Promise.all([pc.setLocalDescription(offer), sig.whenOpen()]);
      expect(candidates.length).toBeGreaterThan(0);
      const connectionId = 'dc_hasty';
      for (const candidate of candidates) sig.send({ type: 'CANDIDATE', dst: 'patient', payload: { candidate, type: 'data', connectionId } });
      const sdp = { type: 'offer', sdp: offer.sdp };
      sig.send({ type: 'OFFER', dst: 'patient', payload: { sdp, type: 'data', connectionId, label: 'flotilla', reliable: true, serialization: 'raw' } });
      sig.onMessage((m) => {
        if (m.type === 'ANSWER') pc.setRemoteDescription({ type: 'answer', sdp: m.payload.sdp.sdp }).catch(() => undefined);
      });
      const link = await opened;
      expect(link.remoteId).toBe('hasty');
      await new Promise<void>((resolve) => dc.stateChanged.subscribe((state) => state === 'open' && resolve()));
    },
    CONNECT_MS,
  );

  it(
    'gives strangers a bounded share of answer slots: a trusted device and a new stranger still get through a flood',
    async () => {
      const events: { event: string; fields?: Record<string, unknown> }[] = [];
      const b = createRtcEndpoint({
        signalUrl: server.url,
        id: 'crowded',
        token: 'token-crowded',
        iceServers: ICE,
        trusted: (identity) => identity === 'regular',
        log: (event, fields) => events.push(fields ? { event, fields } : { event }),
      });
      cleanups.push(() => b.close());
      await b.signaling.whenOpen();
      // A real offer that nobody follows up: each negotiation it starts waits 30 s for ICE.
      const pc = new RTCPeerConnection({ iceServers: ICE });
      pc.createDataChannel('flotilla');
      const sdp = (await pc.createOffer()).sdp;
      await pc.close();
      for (const name of ['floodera', 'flooderb', 'flooderc']) {
        const ws = new WebSocket(signalingSocketUrl(server.url, name, 'f', 'peerjs'));
        cleanups.push(() => ws.terminate());
        await new Promise((resolve) => ws.once('message', resolve));
        // 72 in all, more than the 64 slots main had for everyone together.
        for (let i = 0; i < 24; i++) {
          ws.send(JSON.stringify({ type: 'OFFER', dst: 'crowded', payload: { sdp: { type: 'offer', sdp }, type: 'data', connectionId: `dc_${name}${i}` } }));
        }
      }
      // 8 a flooder, 16 for strangers together; the third flooder's offers end the others'
      // oldest until the three hold about as many, and the rest are ignored.
      const count = (event: string, reason: RegExp) => events.filter((e) => e.event === event && reason.test(String(e.fields?.['reason']))).length;
      await vi.waitFor(() => expect(count('rtc-offer-ignored', /./) + count('rtc-answer-failed', /made room/)).toBe(72 - 16), { timeout: 20_000 });
      expect(count('rtc-offer-ignored', /from this peer/)).toBeGreaterThanOrEqual(32);
      expect(count('rtc-answer-failed', /made room/)).toBeGreaterThan(0);
      expect(count('rtc-answer-failed', /made room/)).toBeLessThan(8);

      for (const id of ['regular', 'newcomer']) {
        const a = endpoint(server, id);
        await a.signaling.whenOpen();
        const answered = nextLink(b);
        const link = await a.dial('crowded', { timeoutMs: 30_000 });
        echoEverything(await answered);
        const { sent, got } = await echoRoundTrip(link);
        expect(Buffer.from(got as Uint8Array).equals(Buffer.from(sent))).toBe(true);
      }
    },
    CONNECT_MS,
  );

  it('refuses to start without ICE servers', () => {
    expect(() => createRtcEndpoint({ signalUrl: server.url, id: 'x', token: 't', iceServers: [] })).toThrow(FlotillaError);
  });
});

describe('rtc endpoint when signaling goes away', () => {
  it('fails a dial early when the server reports EXPIRE', async () => {
    const server = await startPeerServer(0, { expire_timeout: 200, cleanup_out_msgs: 100 });
    cleanups.push(() => server.close());
    const a = endpoint(server, 'expiring');
    await a.signaling.whenOpen();
    await expect(a.dial('never-registered', { timeoutMs: 30_000 })).rejects.toMatchObject({
      code: 'unreachable',
      detail: expect.stringContaining('not connected to the signaling server'),
    });
  });

  it(
    'keeps an open link across a signaling restart, and both sides register again',
    async () => {
      let server = await startPeerServer();
      cleanups.push(() => server.close());
      const a = endpoint(server, 'left');
      const b = endpoint(server, 'right');
      await Promise.all([a.signaling.whenOpen(), b.signaling.whenOpen()]);
      const answered = nextLink(b);
      const first = await a.dial('right', { timeoutMs: 30_000 });
      echoEverything(await answered);

      await server.close();
      await vi.waitFor(() => expect([a.signaling.state, b.signaling.state]).toEqual(['connecting', 'connecting']));
      const during = await echoRoundTrip(first);
      expect(Buffer.from(during.got as Uint8Array).equals(Buffer.from(during.sent))).toBe(true);

      server = await startPeerServer(server.port);
      await vi.waitFor(() => expect([a.signaling.state, b.signaling.state]).toEqual(['open', 'open']), 20_000);
      const again = nextLink(b);
      const second = await a.dial('right', { timeoutMs: 30_000 });
      echoEverything(await again);
      const after = await echoRoundTrip(second);
      expect(Buffer.from(after.got as Uint8Array).equals(Buffer.from(after.sent))).toBe(true);
      // One DTLS certificate per connection, not per process.
      expect(second.localFingerprint).not.toBe(first.localFingerprint);
    },
    CONNECT_MS,
  );
});
