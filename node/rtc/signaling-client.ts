// PeerJS signaling over a WebSocket: registers our id, relays OFFER/ANSWER/CANDIDATE, and keeps
// the registration alive (heartbeats, reconnect with backoff) so browsers can always reach us.

import WebSocket from 'ws';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { MAX_PEERJS_MESSAGE_LENGTH, parsePeerjsServerMessage, type PeerjsMessage } from '../../shared/wire/peerjs-messages.ts';

/** Structured log sink: an event name plus fields. */
export type SignalingLog = (event: string, fields?: Record<string, unknown>) => void;

/** A fixed token, or a provider called before each attempt (e.g. a freshly signed credential). */
export type SignalingToken = string | (() => string | Promise<string>);

/** A connection to a PeerJS signaling server under one peer id. */
export interface SignalingClient {
  /** Sends one message; queued (bounded) while reconnecting, dropped once closed. */
  send(msg: { type: string; dst: string; payload: unknown }): void;
  /** Stops for good: closes the socket and stops reconnecting. */
  close(): void;
  /** `connecting` also covers the pause between reconnect attempts. */
  readonly state: 'connecting' | 'open' | 'closed';
  /** Why the last attempt to reach the server failed (e.g. `connect ECONNREFUSED …`), if one did. */
  readonly lastFailure: string | undefined;
  /** Adds a handler for every valid message (OFFER, ANSWER, CANDIDATE, LEAVE, EXPIRE, …). */
  onMessage(h: (m: PeerjsMessage) => void): void;
  /** Adds a handler for registration changes; `closed` comes with the reason. */
  onState(h: (s: 'open' | 'closed', reason?: string) => void): void;
  /**
   * Resolves once registered. Rejects with FlotillaError('id-taken' | 'signaling-failed') when
   * the server refuses us, when close() is called, or (reconnect off) when the socket fails.
   */
  whenOpen(): Promise<void>;
}

/** Options for createSignalingClient. */
export interface SignalingClientOptions {
  /** Server base URL, `http(s)://host:port/path/`. */
  url: string;
  id: string;
  /** Registration token, or a function producing a fresh one for every connection attempt. */
  token: SignalingToken;
  /** PeerJS API key; default `peerjs`. */
  key?: string;
  /** Reconnect forever with backoff (default true). */
  reconnect?: boolean;
  /** Outgoing pace, messages per second and burst (defaults SEND_PER_SECOND, SEND_BURST). */
  pace?: { perSecond: number; burst: number };
  log?: SignalingLog;
}

const PEERJS_CLIENT_VERSION = '1.5.5';
const HEARTBEAT_MS = 5_000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/**
 * A PeerJS server that still holds our id under the same token re-attaches the new socket
 * without sending OPEN; silence this long after the socket opened means we were accepted.
 */
const SILENT_ACCEPT_MS = 3_000;
const MAX_QUEUED = 256;
/**
 * What this client sends per second, and in a burst, at most: below the server's per-socket
 * limits (signaling/src/limits.ts: 200/s, burst 1000), which close a socket that exceeds them.
 * A controller dialing hundreds of hosts at once (an offer and a few candidates each) is paced
 * instead of cut off.
 */
const SEND_PER_SECOND = 150;
const SEND_BURST = 600;
/** Messages waiting for the pace; beyond this the oldest are dropped (and logged). */
const MAX_PACED = 20_000;
/** Server errors that will not change by retrying. */
const FATAL_ERROR = /invalid key|invalid token|no id, token, or key/i;

function textOf(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/** Builds the PeerJS socket URL from the server's base URL. */
export function signalingSocketUrl(base: string, id: string, token: string, key: string): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new FlotillaError('bad-config', `signaling URL is not a URL: ${base}`);
  }
  const schemes: Record<string, string> = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
  const scheme = schemes[url.protocol];
  if (!scheme) throw new FlotillaError('bad-config', `signaling URL must be http(s) or ws(s): ${base}`);
  url.protocol = scheme;
  url.pathname = `${url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`}peerjs`;
  url.search = new URLSearchParams({ key, id, token, version: PEERJS_CLIENT_VERSION }).toString();
  url.hash = '';
  return url.toString();
}

/** Connects to a PeerJS server as `id` and keeps the registration up until close(). */
export function createSignalingClient(o: SignalingClientOptions): SignalingClient {
  const log: SignalingLog = o.log ?? (() => undefined);
  const reconnect = o.reconnect ?? true;
  const key = o.key ?? 'peerjs';
  signalingSocketUrl(o.url, o.id, '', key); // a bad URL is a configuration error: throw now
  const messageHandlers: ((m: PeerjsMessage) => void)[] = [];
  const stateHandlers: ((s: 'open' | 'closed', reason?: string) => void)[] = [];
  let waiters: { resolve: () => void; reject: (e: FlotillaError) => void }[] = [];
  const queue: string[] = [];
  let state: SignalingClient['state'] = 'connecting';
  let stopped = false;
  let socket: WebSocket | undefined;
  let attempt = 0;
  let lastFailure: string | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let silentTimer: NodeJS.Timeout | undefined;
  // The outgoing pace: a token bucket, and the messages waiting for a token.
  const perSecond = o.pace?.perSecond ?? SEND_PER_SECOND;
  const burst = o.pace?.burst ?? SEND_BURST;
  let tokens = burst;
  let refilledAt = performance.now();
  const paced: string[] = [];
  let paceTimer: NodeJS.Timeout | undefined;

  function refill(): void {
    const now = performance.now();
    tokens = Math.min(burst, tokens + ((now - refilledAt) / 1000) * perSecond);
    refilledAt = now;
  }

  /** Sends now if the pace allows and nothing waits, else queues behind the others. */
  function transmit(ws: WebSocket, text: string): void {
    refill();
    if (!paced.length && tokens >= 1) {
      tokens -= 1;
      ws.send(text);
      return;
    }
    if (paced.length >= MAX_PACED) log('signaling-queue-full', { dropped: paced.shift()?.slice(0, 40) });
    paced.push(text);
    schedulePace();
  }

  function schedulePace(): void {
    if (paceTimer || !paced.length) return;
    const waitMs = Math.max(1, Math.ceil(((1 - tokens) / perSecond) * 1000));
    paceTimer = setTimeout(() => {
      paceTimer = undefined;
      const ws = socket;
      if (!ws || ws.readyState !== WebSocket.OPEN) return; // sent again once reopened (markOpen)
      refill();
      while (paced.length && tokens >= 1) {
        tokens -= 1;
        ws.send(paced.shift()!);
      }
      schedulePace();
    }, waitMs);
  }

  function emitState(s: 'open' | 'closed', reason?: string): void {
    for (const h of stateHandlers) {
      try {
        h(s, reason);
      } catch (error) {
        log('signaling-handler-failed', { error: String(error) });
      }
    }
  }

  function settle(error?: FlotillaError): void {
    const pending = waiters;
    waiters = [];
    for (const w of pending) {
      if (error) w.reject(error);
      else w.resolve();
    }
  }

  function clearTimers(): void {
    clearInterval(heartbeat);
    clearTimeout(silentTimer);
    heartbeat = silentTimer = undefined;
  }

  function markOpen(ws: WebSocket, how: string): void {
    if (ws !== socket || state === 'open') return;
    clearTimeout(silentTimer);
    state = 'open';
    attempt = 0;
    log('signaling-open', { id: o.id, how });
    for (const text of [...paced.splice(0), ...queue.splice(0)]) transmit(ws, text);
    emitState('open');
    settle();
  }

  /** One attempt ended (socket closed, or no token): tell the handlers, then retry or stop. */
  function attemptEnded(wasOpen: boolean, refusal: FlotillaError | undefined, failure: string): void {
    const reason = refusal?.message ?? failure;
    lastFailure = reason;
    const again = reconnect && !stopped;
    state = again ? 'connecting' : 'closed';
    if (!again) {
      stopped = true;
      queue.length = 0;
      settle(refusal ?? new FlotillaError('signaling-failed', failure));
    }
    if (wasOpen || refusal || !again) emitState('closed', reason);
    if (!again) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    attempt += 1;
    const delay = Math.round(base * (0.5 + Math.random() * 0.5));
    log('signaling-retry', { id: o.id, reason, delayMs: delay });
    retryTimer = setTimeout(connect, delay);
  }

  function connect(): void {
    retryTimer = undefined;
    if (stopped) return;
    state = 'connecting';
    const token = typeof o.token === 'string' ? Promise.resolve(o.token) : Promise.resolve().then(o.token);
    token
      .then(
        (value) => {
          if (!stopped) openSocket(signalingSocketUrl(o.url, o.id, value, key));
        },
        (error: unknown) => {
          throw new Error(`no registration token: ${String(error)}`);
        },
      )
      .catch((error: unknown) => {
        if (!stopped) attemptEnded(false, undefined, error instanceof Error ? error.message : String(error));
      });
  }

  function openSocket(socketUrl: string): void {
    let refusal: FlotillaError | undefined;
    let lastError: string | undefined;
    const ws = new WebSocket(socketUrl, { maxPayload: MAX_PEERJS_MESSAGE_LENGTH, handshakeTimeout: 10_000 });
    socket = ws;
    ws.on('open', () => {
      heartbeat = setInterval(() => transmit(ws, '{"type":"HEARTBEAT"}'), HEARTBEAT_MS);
      silentTimer = setTimeout(() => markOpen(ws, 'accepted without OPEN'), SILENT_ACCEPT_MS);
    });
    ws.on('message', (data, isBinary) => {
      if (ws !== socket) return;
      const message = parsePeerjsServerMessage(isBinary ? null : textOf(data), (reason) =>
        log('signaling-bad-message', { reason: isBinary ? 'binary frame' : reason }),
      );
      if (!message) return;
      if (message.type === 'OPEN') return markOpen(ws, 'OPEN');
      if (message.type === 'ID-TAKEN' || message.type === 'ERROR') {
        const code = message.type === 'ID-TAKEN' ? 'id-taken' : 'signaling-failed';
        refusal = new FlotillaError(code, message.payload.msg || message.type);
        if (message.type === 'ERROR' && FATAL_ERROR.test(message.payload.msg)) stopped = true;
        log('signaling-refused', { id: o.id, type: message.type, msg: message.payload.msg, retry: !stopped });
        settle(refusal);
        ws.close();
        return;
      }
      if (message.type === 'HEARTBEAT') return;
      for (const h of messageHandlers) {
        try {
          h(message);
        } catch (error) {
          log('signaling-handler-failed', { type: message.type, error: String(error) });
        }
      }
    });
    ws.on('error', (error) => {
      lastError = error.message;
    });
    ws.on('close', (code) => {
      if (ws !== socket) return;
      socket = undefined;
      clearTimers();
      attemptEnded(state === 'open', refusal, `signaling socket closed (${lastError ?? `code ${code}`})`);
    });
  }

  connect();

  return {
    get state() {
      return state;
    },
    get lastFailure() {
      return lastFailure;
    },
    send(msg) {
      const text = JSON.stringify(msg);
      if (state === 'open' && socket?.readyState === WebSocket.OPEN) {
        transmit(socket, text);
      } else if (!stopped) {
        if (queue.length >= MAX_QUEUED) log('signaling-queue-full', { dropped: queue.shift()?.slice(0, 40) });
        queue.push(text);
      } else {
        log('signaling-send-dropped', { type: msg.type, dst: msg.dst });
      }
    },
    close() {
      if (stopped && state === 'closed') return;
      stopped = true;
      state = 'closed';
      clearTimers();
      clearTimeout(retryTimer);
      clearTimeout(paceTimer);
      queue.length = 0;
      paced.length = 0;
      const ws = socket;
      socket = undefined;
      ws?.close();
      emitState('closed', 'signaling client closed');
      settle(new FlotillaError('signaling-failed', 'signaling client closed'));
    },
    onMessage(h) {
      messageHandlers.push(h);
    },
    onState(h) {
      stateHandlers.push(h);
    },
    whenOpen() {
      if (state === 'open') return Promise.resolve();
      if (state === 'closed') return Promise.reject(new FlotillaError('signaling-failed', 'signaling client closed'));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
  };
}
