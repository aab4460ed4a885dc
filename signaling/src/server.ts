// flotilla-signal: the rendezvous server. It introduces peers and nothing more.
//
// What this server sees (and so what an operator of it, or an attacker who owns it, learns):
// - peer ids (agent and device key fingerprints) and the fleet id each one claims, with the
//   public keys inside their signed credentials;
// - presence: when each agent connects and disconnects, and when it was last seen;
// - remote IP addresses and ports of every peer, WebSocket and STUN alike;
// - the SDP offers and answers and ICE candidates it relays: DTLS fingerprints, ICE
//   credentials, candidate addresses, data-channel labels and PeerJS metadata;
// - who signals whom, message types and sizes, and their timing;
// - device certificates (name, role, validity) presented to read presence, and the fleet's
//   revocation lists (which device ids are revoked);
// - the sealed store's records: fleet, rid, kind, version, recipient ids, writer id, sizes,
//   times and the ciphertext, which it cannot open (docs/security.md);
// - offline rules, in the clear: a rule's name, host ids, minutes and webhook (URL, format,
//   secret) or mail recipients, which it must read to evaluate them (offline-rules.ts);
// - with --smtp, mail it sends for a fleet (mail.ts): recipients, subject and text in the clear.
// What it never sees: commands, their output or exit codes, files, job definitions, tags,
// host facts (hostnames, OS, metrics) or task history. Those travel only inside data
// channels that are DTLS-encrypted and, inside that, sealed with keys from the application
// handshake, whose transcript binds the DTLS fingerprints (SECURITY-MODEL.md), so rewriting
// SDP here makes the handshake fail instead of exposing anything.

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import express from 'express';
import { ExpressPeerServer } from 'peer';
import { createApiRouter } from './http-api.ts';
import { resolveLimits, type Limits } from './limits.ts';
import { createLogger, errorText, type Logger } from './log.ts';
import { limitConnectionsPerAddress } from './connection-cap.ts';
import { createPeerGate, PEERJS_KEY } from './peer-gate.ts';
import { createJsonFile, readJsonFile } from './persist.ts';
import { createPresence } from './presence.ts';
import { createOfflineRules } from './offline-rules.ts';
import { createServerMailer, type MailOptions } from './mail.ts';
import { createRevocationStore } from './revocations.ts';
import { openStore, type StoreBackend } from './store/open.ts';
import { startStunServer, type StunServer } from './stun.ts';
import type { TurnOptions } from './turn.ts';

/** Options for startSignalingServer; paths are used as given (main.ts resolves the defaults). */
export interface SignalingServerOptions {
  /** TCP port for HTTP and the PeerJS socket; 0 picks one. Default 9000. */
  port?: number;
  /** Address to listen on (HTTP and STUN). Default 0.0.0.0. */
  host?: string;
  /** UDP port of the STUN responder; 0 picks one. Default 3478. */
  stunPort?: number;
  /** Folder for presence.json and revocations.json; without it nothing is persisted. */
  dataDir?: string;
  /** Folder of the built PWA, served at '/'. */
  webRoot?: string;
  /** The built agent bundle, served at /agent/flotilla-agent.mjs. */
  agentBundle?: string;
  /** Most peers registered at once (same as `limits.maxPeers`). */
  maxPeers?: number;
  /** Overrides for the limits in limits.ts. */
  limits?: Partial<Limits>;
  log?: Logger;
  /** Version reported by /healthz; default the package version. */
  version?: string;
  /** Seconds without a PeerJS heartbeat before PeerServer drops a peer. Default 90. */
  aliveTimeoutS?: number;
  /** coturn shared secret and URLs: /api/ice then hands TURN credentials to authenticated peers. */
  turn?: TurnOptions;
  /** The Web Push relay: forward to loopback too (tests), the VAPID subject (push.ts). */
  push?: { allowLoopback?: boolean; subject?: string };
  /** Store backend; default `sqlite` (`<dataDir>/store.sqlite`) with a dataDir, else `memory`. */
  store?: StoreBackend;
  /** How often expired records are purged (reads skip them meanwhile). Default one minute. */
  storePurgeEveryMs?: number;
  /** Offline rules (offline-rules.ts): check interval, webhooks to loopback, and a rule's minute (tests: 1000). */
  offline?: { checkEveryMs?: number; allowLoopback?: boolean; minuteMs?: number };
  /** Mail from the server (mail.ts): SMTP relay, From, the recipients it may mail; off without. */
  mail?: MailOptions;
}

/** A running signaling server. */
export interface SignalingServer {
  /** Base URL, `http://host:port/`, for clients on this machine. */
  url: string;
  port: number;
  stunPort: number;
  close(): Promise<void>;
}

const MISSING_WEB = `<!doctype html><meta charset="utf-8"><title>Flotilla</title>
<h1>Flotilla signaling server</h1>
<p>The web app has not been built yet. Run <code>npm run build</code> and reload this page.</p>\n`;

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** How clients on this machine reach an address we listen on. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return isIPv6(host) ? `[${host}]` : host;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolvePort(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** Starts HTTP, the PeerJS socket and STUN; resolves once all listen. */
export async function startSignalingServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const log = options.log ?? createLogger();
  const limits = resolveLimits({ ...options.limits, ...(options.maxPeers === undefined ? {} : { maxPeers: options.maxPeers }) });
  const host = options.host ?? '0.0.0.0';
  const version = options.version ?? packageVersion();
  const startedAt = Date.now();
  const { dataDir } = options;

  // The snapshots run only after a debounce, by which time both stores exist.
  const presenceFile = createJsonFile({ dir: dataDir, name: 'presence.json', snapshot: () => presence.snapshot(), log });
  const revocationFile = createJsonFile({ dir: dataDir, name: 'revocations.json', snapshot: () => revocations.snapshot(), log, debounceMs: 200 });
  const presence = createPresence({
    maxTrackedAgents: limits.maxTrackedAgents,
    restored: await readJsonFile(dataDir, 'presence.json', log),
    onChange: () => presenceFile.touch(),
  });
  const revocations = await createRevocationStore({
    maxFleets: limits.maxFleets,
    newFleetsPerIpPerDay: limits.newFleetsPerIpPerDay,
    onStored: (list) => gate.revoked(list),
    log,
    restored: await readJsonFile(dataDir, 'revocations.json', log),
    onChange: () => revocationFile.touch(),
  });

  const store = await openStore(options.store, dataDir);
  const mailer = createServerMailer(options.mail ?? {}, log);
  const offline = await createOfflineRules({ presence, log, dataDir, mailer, ...options.offline });
  const purgeTimer = setInterval(() => {
    store
      .purgeExpired(Date.now())
      .then((records) => records > 0 && log.info('store.purged', { records }))
      .catch((error: unknown) => log.error('store.purge-failed', { error: errorText(error) }));
  }, options.storePurgeEveryMs ?? 60_000);
  purgeTimer.unref();

  const app = express();
  app.disable('x-powered-by');
  const httpServer = createServer(app);
  const gate = createPeerGate({ limits, log, presence });
  let stun: StunServer | undefined;

  app.use(
    createApiRouter({
      limits,
      log,
      presence,
      revocations,
      stunPort: () => stun?.port ?? 0,
      ...(options.turn ? { turn: options.turn } : {}),
      health: () => ({ version, uptimeS: Math.floor((Date.now() - startedAt) / 1000), peers: gate.peerCount(), agentsOnline: presence.onlineCount() }),
      store,
      onStored: (stored) => gate.stored(stored),
      push: { ...options.push, dataDir },
      offline: { rules: offline, allowLoopback: options.offline?.allowLoopback === true },
      mail: { mailer, options: options.mail ?? {} },
    }),
  );
  if (options.agentBundle !== undefined) {
    const bundle = resolve(options.agentBundle);
    app.get('/agent/flotilla-agent.mjs', (_req, res) => {
      res.sendFile(bundle, { headers: { 'Content-Type': 'text/javascript; charset=utf-8' } }, (error) => {
        if (error && !res.headersSent) res.status(404).type('text/plain').send('The agent bundle has not been built yet: run npm run build.\n');
      });
    });
  }
  if (options.webRoot !== undefined) app.use(express.static(options.webRoot, { index: 'index.html' }));
  // Reached only when the PWA is missing (express.static answers '/' when index.html exists).
  app.get('/', (_req, res) => void res.type('html').send(MISSING_WEB));

  // PeerServer last: its router answers GET '/' with its own banner and applies CORS to all it sees.
  const peerApp = ExpressPeerServer(httpServer, {
    path: '/',
    key: PEERJS_KEY,
    allow_discovery: false,
    concurrent_limit: limits.maxPeers,
    alive_timeout: (options.aliveTimeoutS ?? 90) * 1000,
    createWebSocketServer: (wsOptions) => gate.createWebSocketServer(wsOptions),
  });
  peerApp.disable('x-powered-by');
  app.use('/', peerApp); // mounting runs PeerServer's setup, which calls createWebSocketServer
  gate.attach(peerApp);
  limitConnectionsPerAddress(httpServer, limits.maxConnectionsPerIp, log);
  httpServer.on('clientError', (error, socket) => {
    log.debug('http.client-error', { error: errorText(error) });
    socket.destroy();
  });

  const port = await listen(httpServer, options.port ?? 9000, host);
  try {
    stun = await startStunServer({ port: options.stunPort ?? 3478, host, log: (event, fields) => log.info(event, fields) });
  } catch (error) {
    await gate.close();
    httpServer.closeAllConnections();
    await new Promise<void>((done) => httpServer.close(() => done()));
    clearInterval(purgeTimer);
    await Promise.all([store.close(), offline.close()]);
    mailer.close();
    throw error;
  }
  const url = `http://${urlHost(host)}:${port}/`;
  if (options.mail?.smtp) {
    const { host: smtpHost, port: smtpPort, secure, user } = options.mail.smtp;
    const fields = {
      smtp: `${secure ? 'smtps' : 'smtp'}://${user ? `${user}@` : ''}${smtpHost}:${smtpPort}`,
      from: options.mail.from,
      allow: options.mail.allow,
    };
    if (mailer.enabled) log.info('mail.on', fields);
    else log.warn('mail.off', { ...fields, reason: mailer.off });
  }
  log.info('signal.listening', { url, host, port, stunPort: stun.port, peerjsPath: '/peerjs', dataDir, webRoot: options.webRoot, store: store.where, version });

  let closed: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    await gate.close();
    httpServer.closeAllConnections();
    await new Promise<void>((done) => httpServer.close(() => done()));
    await stun?.close();
    clearInterval(purgeTimer);
    await Promise.all([presenceFile.flush(), revocationFile.flush(), store.close(), offline.close()]);
    mailer.close();
    log.info('signal.closed', { port });
  };
  return { url, port, stunPort: stun.port, close: () => (closed ??= close()) };
}
