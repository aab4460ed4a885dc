// The browser's Dialer: the unmodified peerjs client registered under this device's id with a
// fresh signed credential, the signaling server's own ICE servers, and reliable raw channels.

import { Peer, type DataConnection, type PeerError } from 'peerjs';
import { FlotillaError } from '../../../../shared/wire/errors.ts';
import { createPeerCredential, newSignalingInstance } from '../../../../shared/identity/tokens.ts';
import { fetchIceServers } from '../../../../shared/controller/signal-api.ts';
import type { DeviceIdentity } from '../../../../shared/identity/fleet.ts';
import type { Dialer, RawLink } from '../../../../shared/session/transport.ts';
import { createPeerjsLink } from './peerjs-link.ts';

type Log = (event: string, fields?: Record<string, unknown>) => void;

/** Options of the browser dialer. */
export interface PeerjsDialerOptions {
  /** Signaling server base URL, e.g. `https://signal.example/`. */
  signal: string;
  device: DeviceIdentity;
  log?: Log;
  /** How long registering with the signaling server may take. */
  registerTimeoutMs?: number;
}

/** A Dialer that can also be shut down. */
export interface PeerjsDialer extends Dialer {
  /** Destroys every peer (and with them every link). */
  close(): void;
}

/** Where the PeerJS socket lives, from the signaling URL. */
function socketOptions(signal: string): { host: string; port: number; path: string; secure: boolean } {
  const url = new URL(signal);
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : secure ? 443 : 80,
    path: url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`,
    secure,
  };
}

/** PeerJS logging (0-3), from localStorage `flotilla-debug`, for diagnosing connections. */
function peerjsDebugLevel(): 0 | 1 | 2 | 3 {
  const level = Number(globalThis.localStorage?.getItem('flotilla-debug') ?? 0);
  return level === 1 || level === 2 || level === 3 ? level : 0;
}

/** Logs ICE progress of one connection: what a "no data channel" failure needs explaining. */
function watchIce(pc: RTCPeerConnection | undefined, remoteId: string, log: Log): void {
  if (!pc) return;
  const host = remoteId.slice(0, 8);
  pc.addEventListener('icegatheringstatechange', () => log('ice-gathering', { host, state: pc.iceGatheringState }));
  pc.addEventListener('iceconnectionstatechange', () => log('ice-connection', { host, state: pc.iceConnectionState }));
  pc.addEventListener('icecandidateerror', (event) => {
    const e = event as RTCPeerConnectionIceErrorEvent;
    log('ice-candidate-error', { host, url: e.url, code: e.errorCode, text: e.errorText });
  });
}

/** Creates the dialer; the peer registers lazily on the first dial. */
export function createPeerjsDialer(o: PeerjsDialerOptions): PeerjsDialer {
  const log: Log = o.log ?? (() => undefined);
  const peers = new Set<Peer>();
  // Dials waiting for their channel, by remote id: the server's EXPIRE reaches the Peer, not the connection.
  const waiting = new Map<string, Set<(reason: string) => void>>();
  let current: Promise<Peer> | undefined;

  async function register(): Promise<Peer> {
    // Authenticated, so the server also hands out TURN credentials when it has a relay.
    const iceServers = await fetchIceServers(o.signal, { keys: o.device.keys, pub: o.device.pub, kind: 'device', fleet: o.device.fleetId });
    // The credential is timestamped (±5 min at the server): a new one for every registration.
    const token = await createPeerCredential(o.device.keys, { purpose: 'register', kind: 'device', fleet: o.device.fleetId, ...o.device.pub });
    // Each tab its own instance id: two tabs of one device must not take each other's registration.
    const peer = new Peer(`${o.device.id}-${newSignalingInstance()}`, {
      ...socketOptions(o.signal),
      key: 'peerjs',
      token,
      config: { iceServers },
      debug: peerjsDebugLevel(),
    });
    peers.add(peer);
    peer.on('connection', (incoming) => incoming.close()); // devices dial; agents never dial a browser
    peer.on('error', (error: PeerError<string>) => {
      log('peer-error', { type: error.type, message: error.message });
      if (error.type !== 'peer-unavailable') return;
      for (const [remoteId, fails] of waiting)
        if (error.message.includes(remoteId)) for (const fail of fails) fail('the host is not connected to the signaling server');
    });
    peer.on('disconnected', () => log('peer-disconnected'));
    peer.on('close', () => peers.delete(peer));
    return new Promise<Peer>((resolve, reject) => {
      const timer = setTimeout(() => fail('no answer from the signaling server'), o.registerTimeoutMs ?? 15_000);
      function fail(reason: string): void {
        clearTimeout(timer);
        peer.destroy();
        reject(new FlotillaError('signaling-failed', reason));
      }
      peer.once('open', () => {
        clearTimeout(timer);
        log('peer-open', { id: o.device.id.slice(0, 8) });
        resolve(peer);
      });
      peer.once('error', (error: PeerError<string>) => {
        if (!peer.open) fail(`${error.type}: ${error.message}`);
      });
    });
  }

  /** The registered peer; a new one (fresh credential) when the last lost the server. */
  async function ready(): Promise<Peer> {
    const peer = current ? await current.catch(() => undefined) : undefined;
    if (peer && peer.open && !peer.disconnected && !peer.destroyed) return peer;
    // A disconnected peer keeps its open links; it just cannot make new ones.
    current = register();
    current.catch(() => (current = undefined));
    return current;
  }

  function connectOnce(peer: Peer, remoteId: string, timeoutMs: number, signal?: AbortSignal): Promise<RawLink> {
    return new Promise<RawLink>((resolve, reject) => {
      const startedAt = performance.now();
      const conn: DataConnection | undefined = peer.connect(remoteId, { reliable: true, serialization: 'raw' });
      if (!conn) return reject(new FlotillaError('unreachable', 'the signaling connection dropped'));
      let settled = false;
      watchIce(conn.peerConnection, remoteId, log);
      const fails = waiting.get(remoteId) ?? new Set();
      waiting.set(remoteId, fails);
      const done = () => {
        settled = true;
        clearTimeout(timer);
        fails.delete(fail);
        if (fails.size === 0) waiting.delete(remoteId);
        signal?.removeEventListener('abort', onAbort);
      };
      function fail(reason: string): void {
        if (settled) return;
        done();
        conn!.close();
        reject(new FlotillaError('unreachable', reason));
      }
      const onAbort = () => {
        if (settled) return;
        done();
        conn.close();
        reject(new FlotillaError('cancelled'));
      };
      const timer = setTimeout(() => fail(`no data channel within ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
      fails.add(fail);
      signal?.addEventListener('abort', onAbort, { once: true });
      conn.on('open', () => {
        if (settled) return;
        log('channel-open', { host: remoteId.slice(0, 8), ms: Math.round(performance.now() - startedAt) });
        done();
        resolve(createPeerjsLink(conn, remoteId, log));
      });
      conn.on('error', (error: PeerError<string>) => fail(`${error.type}: ${error.message}`));
      conn.on('close', () => fail('the connection closed before it opened'));
    });
  }

  return {
    async dial(remoteId, options = {}) {
      if (options.signal?.aborted) throw new FlotillaError('cancelled');
      let peer: Peer;
      try {
        peer = await ready();
      } catch (error) {
        throw error instanceof FlotillaError && error.code === 'signaling-failed' ? new FlotillaError('unreachable', error.message) : error;
      }
      return connectOnce(peer, remoteId, options.timeoutMs ?? 15_000, options.signal);
    },
    close() {
      for (const peer of peers) peer.destroy();
      peers.clear();
      current = undefined;
    },
  };
}
