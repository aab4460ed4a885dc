// Helpers for the signaling server tests: a server on 127.0.0.1, `ws` clients speaking the
// PeerJS protocol with real Flotilla credentials, and fetch for the HTTP API.

import { expect } from 'vitest';
import { WebSocket } from 'ws';
import { signText } from '../../shared/identity/crypto.ts';
import { canonicalJson, fromBase64, fromUtf8, toBase64Url, utf8 } from '../../shared/wire/encoding.ts';
import { createFleet, createIdentity, type DeviceIdentity, type Identity } from '../../shared/identity/fleet.ts';
import { createPeerCredential } from '../../shared/identity/tokens.ts';
import { createLogger } from './log.ts';
import { startSignalingServer, type SignalingServer, type SignalingServerOptions } from './server.ts';

export type Msg = Record<string, unknown>;
export interface Started {
  server: SignalingServer;
  logs: string[];
}
export interface TestPeer {
  ws: WebSocket;
  send(message: unknown): void;
  next(type?: string): Promise<Msg>;
  closed: Promise<{ code: number; reason: string }>;
}

const cleanups: (() => Promise<void>)[] = [];

/** Registers a cleanup for the current test. */
export function onCleanup(cleanup: () => Promise<void>): void {
  cleanups.push(cleanup);
}

/** Runs every registered cleanup, newest first; call it from afterEach. */
export async function cleanUp(): Promise<void> {
  await Promise.all(
    cleanups
      .splice(0)
      .reverse()
      .map((cleanup) => cleanup()),
  );
}

/** The identities every test uses: two fleets (each with its admin device), two agents, a device. */
export interface Cast {
  fleet: DeviceIdentity;
  otherFleet: DeviceIdentity;
  agent: Identity;
  agent2: Identity;
  device: Identity;
}

/** Makes the cast once per file (RSA key generation is the slow part). */
export async function makeCast(): Promise<Cast> {
  const [fleet, otherFleet, agent, agent2, device] = await Promise.all([
    createFleet('admin laptop', true),
    createFleet('other admin', true),
    createIdentity(true),
    createIdentity(true),
    createIdentity(true),
  ]);
  return { fleet, otherFleet, agent, agent2, device };
}

export async function start(options: SignalingServerOptions = {}): Promise<Started> {
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', write: (line) => logs.push(line) });
  const server = await startSignalingServer({ port: 0, stunPort: 0, host: '127.0.0.1', log, ...options });
  onCleanup(() => server.close());
  return { server, logs };
}

export function register(who: Identity, fleetId: string, kind: 'agent' | 'device' = 'agent', now?: number): Promise<string> {
  return createPeerCredential(who.keys, { ...who.pub, purpose: 'register', kind, fleet: fleetId, ...(now === undefined ? {} : { now }) });
}

export function presenceCredential(who: DeviceIdentity, fleetId = who.fleetId, cert: unknown = who.cert): Promise<string> {
  return createPeerCredential(who.keys, {
    ...who.pub,
    purpose: 'presence',
    kind: 'device',
    fleet: fleetId,
    cert: JSON.stringify(cert),
    fleetPub: who.fleetPub,
  });
}

/** Re-signs a credential's body with another key: a forgery the server must spot. */
export async function forge(token: string, key: CryptoKey): Promise<string> {
  const { body } = JSON.parse(fromUtf8(fromBase64(token.slice('fc1.'.length)) ?? new Uint8Array())) as { body: unknown };
  return `fc1.${toBase64Url(utf8(canonicalJson({ body, sig: await signText(key, canonicalJson(body)) })))}`;
}

export function socketUrl(server: SignalingServer, query: Record<string, string>): string {
  return `${server.url.replace(/^http/, 'ws')}peerjs?${new URLSearchParams({ key: 'peerjs', version: '1.5.5', ...query }).toString()}`;
}

/** Connects a PeerJS-speaking client and waits for the socket to open. */
export async function connect(server: SignalingServer, id: string, token: string, url = socketUrl(server, { id, token })): Promise<TestPeer> {
  const ws = new WebSocket(url);
  const inbox: Msg[] = [];
  const waiting: { type: string | undefined; resolve: (m: Msg) => void }[] = [];
  ws.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString()) as Msg;
    const i = waiting.findIndex((w) => w.type === undefined || w.type === message['type']);
    if (i >= 0) waiting.splice(i, 1)[0]?.resolve(message);
    else inbox.push(message);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  onCleanup(async () => {
    ws.terminate();
    await closed;
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    send: (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
    next: (type) => {
      const i = inbox.findIndex((m) => type === undefined || m['type'] === type);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] ?? {});
      return new Promise((resolve) => waiting.push({ type, resolve }));
    },
    closed,
  };
}

/** Connects and expects OPEN. */
export async function registered(server: SignalingServer, who: Identity, fleetId: string, kind: 'agent' | 'device' = 'agent'): Promise<TestPeer> {
  const peer = await connect(server, who.id, await register(who, fleetId, kind));
  expect(await peer.next()).toEqual({ type: 'OPEN' });
  return peer;
}

/** Attempts an upgrade that the server must refuse; returns the HTTP status and body. */
export function refused(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('error', () => undefined);
    ws.once('open', () => reject(new Error('the server accepted the connection')));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
  });
}

export function offer(dst: string, connectionId = 'dc_test1'): Msg {
  return {
    type: 'OFFER',
    dst,
    payload: {
      sdp: { type: 'offer', sdp: 'v=0\r\no=- 42 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AB:CD\r\n' },
      type: 'data',
      connectionId,
      label: connectionId,
      reliable: true,
      serialization: 'binary',
      metadata: { flotilla: 1, hello: ['x'] },
    },
  };
}

export async function api(server: SignalingServer, path: string, init: RequestInit = {}): Promise<{ status: number; body: Msg }> {
  const res = await fetch(new URL(path, server.url), init);
  return { status: res.status, body: (await res.json()) as Msg };
}

export function readPresence(server: SignalingServer, token: string): Promise<{ status: number; body: Msg }> {
  return api(server, '/api/presence', { headers: { Authorization: `Flotilla ${token}` } });
}

export function postRevocation(server: SignalingServer, body: unknown): Promise<{ status: number; body: Msg }> {
  return api(server, '/api/revocation', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

/** Polls until `check` passes; the test timeout bounds it (no clock is asserted on). */
export async function eventually(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20));
}
