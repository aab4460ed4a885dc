// The gate in front of PeerServer: PeerServer keeps doing what it does well (the registry,
// relaying OFFER/ANSWER/CANDIDATE, queueing for peers about to connect, expiring dead ones),
// and this file adds what it lacks: a signed credential per id, a validated message stream,
// per-socket and per-address rate limits, taking over an id from a stale socket, bounds per
// identity (one signing key, one id; a few instances per device), relaying only to peers that
// are connected (PeerServer would queue for absent ids), and handing a fleet's agents each new
// revocation list as it is stored.
//
// PeerServer takes a `createWebSocketServer` option; ours returns a `ws` server with
// `maxPayload`, an async `verifyClient`, and a 'connection' listener that runs before the one
// PeerServer adds and wraps each socket's `emit('message')` so PeerServer only ever sees
// messages that passed `parseClientMessage`.

import type { IncomingMessage } from 'node:http';
import type { IClient } from 'peer';
import { WebSocket, WebSocketServer, type ServerOptions } from 'ws';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { splitSignalingId, verifyPeerCredential, type PeerCredential } from '../../shared/identity/tokens.ts';
import { parseClientMessage } from './client-messages.ts';
import { createKeyedLimiter, createTokenBucket, type Limits, type TokenBucket } from './limits.ts';
import { errorText, short, type Logger } from './log.ts';
import type { Presence } from './presence.ts';
import type { RevocationList } from '../../shared/identity/certs.ts';

/** The PeerJS API key Flotilla peers use. */
export const PEERJS_KEY = 'peerjs';
/**
 * What PeerServer sees in place of the credential. PeerServer treats "same id, same token" as
 * a reconnect and "same id, other token" as ID-TAKEN; one constant token for every verified
 * socket turns a fresh, verified credential for a connected id into a takeover, and keeps
 * credentials out of PeerServer's memory.
 */
const ATTACHED_TOKEN = 'flotilla-verified';
const SHUTDOWN_GRACE_MS = 1_000;

/** One verified socket. `accepting` turns false once the socket is replaced, flooded or closing. */
interface PeerSocket {
  id: string;
  /** The id without a device's instance suffix. */
  identity: string;
  signPub: string;
  kind: PeerCredential['kind'];
  fleet: string;
  remote: string;
  socket: WebSocket;
  bucket: TokenBucket;
  accepting: boolean;
}

/** The events of the app ExpressPeerServer returns that the gate listens to. */
export interface PeerServerEventSource {
  on(event: 'connection' | 'disconnect', listener: (client: IClient) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** Options for createPeerGate. */
export interface PeerGateOptions {
  limits: Limits;
  log: Logger;
  presence: Presence;
}

/** The gate: hand `createWebSocketServer` to ExpressPeerServer, then `attach` its app. */
export interface PeerGate {
  createWebSocketServer(options: ServerOptions): WebSocketServer;
  attach(peerApp: PeerServerEventSource): void;
  peerCount(): number;
  /**
   * A fleet stored a new revocation list: hand it to the agents that claim that fleet. They
   * verify it with the fleet key they hold, so a peer merely claiming the fleet learns nothing
   * it could not read from GET /api/revocation. Revoked devices may still register (presence
   * and the agents refuse them, saying why).
   */
  revoked(list: RevocationList): void;
  /**
   * A record was stored: send `STORE {fleet, seq}` to the connected peers that claim its fleet
   * and are among its recipients (every one for `*`, every device for `@devices`), so they read what is new.
   */
  stored(record: { fleet: string; seq: number; to: string[] }): void;
  close(): Promise<void>;
}

/** The remote address of a request, with IPv4-mapped IPv6 unwrapped. */
export function remoteOf(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
}

function send(socket: WebSocket, message: object): void {
  if (socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify(message), () => undefined); // a failed send ends in 'close', handled there
}

/** Creates the gate. */
export function createPeerGate(options: PeerGateOptions): PeerGate {
  const { limits, log, presence } = options;
  const verified = new WeakMap<IncomingMessage, PeerCredential>();
  const live = new Map<string, PeerSocket>();
  const bySocket = new WeakMap<WebSocket, PeerSocket>();
  const knownClients = new WeakSet<IClient>();
  /** Registered ids per identity (a device's instances) and the identity each signing key registered. */
  const instances = new Map<string, Set<string>>();
  const identityBySignKey = new Map<string, string>();
  const connectLimiter = createKeyedLimiter(limits.connectsPerSecondPerIp, limits.connectBurstPerIp);
  let wss: WebSocketServer | undefined;
  let closing = false;

  const fields = (peer: PeerSocket): Record<string, unknown> => ({ id: short(peer.id), kind: peer.kind, fleet: short(peer.fleet), remote: peer.remote });

  /** Checks an upgrade request: address rate, parameters, capacity, then the credential. */
  async function verify(req: IncomingMessage): Promise<{ status: number; reason: string } | undefined> {
    const remote = remoteOf(req);
    if (closing) return { status: 503, reason: 'the server is shutting down' };
    if (!connectLimiter.allow(remote)) return { status: 429, reason: 'too many connection attempts from your address; retry later' };
    const url = new URL(req.url ?? '/', 'http://flotilla.invalid');
    const [id, token, key] = ['id', 'token', 'key'].map((name) => url.searchParams.get(name) ?? '');
    if (!id || !token || !key) return { status: 401, reason: 'missing id, token or key' };
    if (key !== PEERJS_KEY) return { status: 401, reason: 'wrong PeerJS key' };
    if (!live.has(id) && live.size >= limits.maxPeers) return { status: 503, reason: 'the server has reached its peer limit' };
    const { identity, instance } = splitSignalingId(id);
    try {
      const credential = await verifyPeerCredential(token, { purpose: 'register', id: identity });
      if (instance !== undefined && credential.kind !== 'device') return { status: 401, reason: 'only a device may register an instance id' };
      const held = instances.get(identity);
      if (held && !held.has(id) && held.size >= limits.maxInstancesPerDevice) {
        return { status: 429, reason: `this device already has ${held.size} instances registered (at most ${limits.maxInstancesPerDevice}); close one first` };
      }
      // Any RSA public key will do as a wrapping key, so one signing key could claim any number
      // of ids with made-up wrapping keys: a signing key registers one identity at a time.
      const owner = identityBySignKey.get(credential.signPub);
      if (owner !== undefined && owner !== identity) return { status: 409, reason: 'this signing key is already registered under another id' };
      // The socket is known by the id it registered (with its instance, for a device).
      verified.set(req, { ...credential, id });
    } catch (error) {
      const reason = error instanceof FlotillaError && error.code === 'bad-token' ? (error.detail ?? 'invalid credential') : 'invalid credential';
      return { status: 401, reason };
    }
    // Rebuilt from the checked values: PeerServer reads the last of duplicate parameters, we read the first.
    req.url = `${url.pathname}?${new URLSearchParams({ key, id, token: ATTACHED_TOKEN }).toString()}`;
    return undefined;
  }

  const verifyClient: NonNullable<ServerOptions['verifyClient']> = (
    info: { req: IncomingMessage },
    done: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void,
  ) => {
    verify(info.req)
      .catch((error: unknown) => {
        log.error('peer.verify-failed', { remote: remoteOf(info.req), error: errorText(error) });
        return { status: 500, reason: 'internal error' };
      })
      .then((refusal) => {
        if (!refusal) return done(true);
        const id = new URL(info.req.url ?? '/', 'http://flotilla.invalid').searchParams.get('id') ?? undefined;
        log.warn('peer.refused', { remote: remoteOf(info.req), id: short(id), status: refusal.status, reason: refusal.reason });
        done(false, refusal.status, `Flotilla refused the connection: ${refusal.reason}`, { 'Content-Type': 'text/plain; charset=utf-8' });
      })
      .catch((error: unknown) => log.error('peer.verify-failed', { error: errorText(error) }));
  };

  /** Validates and rate-limits one incoming frame; only a valid message is passed on to PeerServer. */
  function onMessage(peer: PeerSocket, data: unknown, isBinary: boolean, emit: (event: string, ...args: unknown[]) => boolean): boolean {
    if (!peer.accepting) return false;
    if (!peer.bucket.take()) {
      peer.accepting = false;
      send(peer.socket, { type: 'ERROR', payload: { msg: 'rate limit exceeded' } });
      peer.socket.close(1008, 'rate limit exceeded');
      log.warn('peer.rate-limited', fields(peer));
      return false;
    }
    const result = parseClientMessage(data, isBinary);
    if (!result.ok) {
      log.warn('message.invalid', { ...fields(peer), reason: result.reason });
      send(peer.socket, { type: 'ERROR', payload: { msg: `invalid message: ${result.reason}` } });
      return false;
    }
    if (peer.kind === 'agent' && live.get(peer.id) === peer) presence.seen(peer.id);
    const message = result.message;
    if (message.type === 'OFFER' || message.type === 'ANSWER' || message.type === 'CANDIDATE') {
      const target = live.get(message.dst);
      // PeerServer would queue it for an absent id (any string) for seconds: memory anyone
      // could fill. Say at once that the peer is not here, as PeerServer does when it expires.
      if (!target?.accepting) {
        send(peer.socket, { type: 'EXPIRE', src: message.dst });
        return false;
      }
      if (target.socket.bufferedAmount > limits.maxBufferedPerPeer) {
        target.accepting = false;
        target.socket.terminate();
        log.warn('peer.not-reading', { ...fields(target), buffered: target.socket.bufferedAmount });
        send(peer.socket, { type: 'EXPIRE', src: message.dst });
        return false;
      }
    }
    return emit('message', Buffer.from(JSON.stringify(message)), false);
  }

  /** Runs before PeerServer's own 'connection' listener. */
  function onConnection(socket: WebSocket, req: IncomingMessage): void {
    socket.on('error', (error: Error & { code?: string }) => {
      const peer = bySocket.get(socket);
      const event = error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'message.too-large' : 'peer.socket-error';
      log.warn(event, { ...(peer ? fields(peer) : { remote: remoteOf(req) }), error: error.message });
    });
    const credential = verified.get(req);
    if (!credential) {
      // Not possible while verifyClient runs first; make PeerServer refuse rather than register.
      req.url = '/peerjs';
      return;
    }
    const identity = splitSignalingId(credential.id).identity;
    const held = instances.get(identity);
    const owner = identityBySignKey.get(credential.signPub);
    // Checked again: two upgrades verified at once may both have passed the checks in verify().
    if ((held && !held.has(credential.id) && held.size >= limits.maxInstancesPerDevice) || (owner !== undefined && owner !== identity)) {
      socket.close(1008, 'too many registrations for this identity');
      return;
    }
    const peer: PeerSocket = {
      id: credential.id,
      identity,
      signPub: credential.signPub,
      kind: credential.kind,
      fleet: credential.fleet,
      remote: remoteOf(req),
      socket,
      bucket: createTokenBucket(limits.messagesPerSecond, limits.messageBurst),
      accepting: true,
    };
    const previous = live.get(peer.id);
    if (previous) {
      previous.accepting = false;
      previous.socket.close(4000, 'replaced by a newer connection with the same id');
      log.info('peer.replaced', { ...fields(previous), by: peer.remote });
    }
    live.set(peer.id, peer);
    bySocket.set(socket, peer);
    instances.set(identity, (held ?? new Set()).add(peer.id));
    identityBySignKey.set(peer.signPub, identity);
    const emit = socket.emit.bind(socket);
    socket.emit = (event: string | symbol, ...args: unknown[]): boolean => {
      if (event !== 'message') return emit(event, ...args);
      try {
        return onMessage(peer, args[0], args[1] === true, emit);
      } catch (error) {
        // Whatever a message does inside PeerServer, it must not reach the process.
        log.error('message.handler-failed', { ...fields(peer), error: errorText(error) });
        return false;
      }
    };
    socket.on('close', (code: number) => {
      peer.accepting = false;
      const current = live.get(peer.id) === peer;
      if (current) {
        live.delete(peer.id);
        const ids = instances.get(peer.identity);
        ids?.delete(peer.id);
        if (!ids?.size) {
          instances.delete(peer.identity);
          identityBySignKey.delete(peer.signPub);
        }
        if (peer.kind === 'agent') presence.disconnected(peer.id);
      }
      log.info('peer.left', { ...fields(peer), code, replaced: !current });
    });
  }

  return {
    createWebSocketServer(serverOptions) {
      wss = new WebSocketServer({ ...serverOptions, maxPayload: limits.maxPayload, verifyClient });
      wss.on('connection', onConnection);
      return wss;
    },
    attach(peerApp) {
      peerApp.on('connection', (client) => {
        const socket = client.getSocket();
        const peer = socket ? bySocket.get(socket) : undefined;
        if (!peer) return;
        const reattached = knownClients.has(client);
        knownClients.add(client);
        if (reattached) {
          // PeerServer re-attached a replaced id silently, keeping the old heartbeat time;
          // PeerJS clients wait for OPEN, and the stale time would get the new socket reaped.
          client.setLastPing(Date.now());
          send(peer.socket, { type: 'OPEN' });
        }
        if (peer.kind === 'agent') presence.connected(peer.id, peer.fleet);
        log.info('peer.registered', { ...fields(peer), takeover: reattached });
      });
      peerApp.on('disconnect', (client) => {
        // PeerServer drops a client that stopped sending heartbeats and nulls its socket:
        // end the socket now so that presence follows at once.
        const peer = live.get(client.getId());
        if (peer && client.getSocket() === null) peer.socket.terminate();
      });
      peerApp.on('error', (error) => log.warn('peerserver.error', { error: errorText(error) }));
    },
    peerCount: () => live.size,
    revoked(list) {
      const { fleet } = list.body;
      let agents = 0;
      // Agents read messages of up to 128 KiB (shared/wire/peerjs-messages.ts); a bigger list they poll.
      if (JSON.stringify(list).length > 100 * 1024) return log.info('revocation.too-large-to-push', { fleet: short(fleet), version: list.body.version });
      for (const peer of live.values()) {
        if (peer.fleet !== fleet || peer.kind !== 'agent' || !peer.accepting) continue;
        send(peer.socket, { type: 'REVOCATION', payload: list });
        agents++;
      }
      log.info('revocation.pushed', { fleet: short(fleet), version: list.body.version, agents });
    },
    stored({ fleet, seq, to }) {
      const everyone = to[0] === '*';
      const recipients = new Set(to);
      let peers = 0;
      for (const peer of live.values()) {
        if (peer.fleet !== fleet || !peer.accepting || !(everyone || recipients.has(peer.identity) || (peer.kind === 'device' && recipients.has('@devices'))))
          continue;
        send(peer.socket, { type: 'STORE', payload: { fleet, seq } });
        peers++;
      }
      log.debug('store.pushed', { fleet: short(fleet), seq, peers });
    },
    async close() {
      closing = true;
      const sockets = [...(wss?.clients ?? [])];
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.readyState === WebSocket.CLOSED) return resolve();
              const timer = setTimeout(() => socket.terminate(), SHUTDOWN_GRACE_MS);
              socket.once('close', () => {
                clearTimeout(timer);
                resolve();
              });
              socket.close(1001, 'server shutting down');
            }),
        ),
      );
      await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
    },
  };
}
