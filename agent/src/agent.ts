// The agent daemon: registers with the signaling server under its key-derived id, runs the
// handshake on every incoming data channel, and serves authenticated sessions.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { createLinkInbox } from '../../shared/session/link-queue.ts';
import { refuse, runHandshake } from '../../shared/session/handshake.ts';
import { checkDeviceHello } from '../../shared/controller/peer-checks.ts';
import { createSecureSession } from '../../shared/session/session.ts';
import { useNodeCrypto } from '../../node/platform.ts';
import { createPeerCredential, splitSignalingId } from '../../shared/identity/tokens.ts';
import { defaultIceServers, fetchIceServers, fetchRevocation, iceServerSource } from '../../shared/controller/signal-api.ts';
import { nodeHttp } from './http-client.ts';
import type { RawLink } from '../../shared/session/transport.ts';
import { createRtcEndpoint, type RtcEndpoint } from '../../node/rtc/rtc-endpoint.ts';
import { udpBufferCaps, WANTED_UDP_BUFFER } from '../../node/rtc/packet-size.ts';
import { createHandshakeLimiter } from './handshake-limit.ts';
import { openJournal } from './journal.ts';
import { removePartials } from './partial-files.ts';
import { openAuditLog } from './audit.ts';
import { createDispatcher } from './dispatch.ts';
import { createRevocationWatch } from './revocation-watch.ts';
import { createMailbox } from './mailbox.ts';
import { createJobManager, type JobManager } from './jobs/manager.ts';
import { setJobs } from './jobs/current.ts';
import { openJobJournal } from './jobs/job-journal.ts';
import { startMetrics } from '../../capabilities/metrics/service.ts';
import { startAlerts } from './alerts/engine.ts';
import type { AgentConfig } from './config.ts';
import type { AgentState, Enrollment } from './state.ts';
import type { Logger } from '../../node/log.ts';

const REVOCATION_POLL_MS = 5 * 60_000;
/** How often the agent reads the store when nothing told it to (pushes and reconnects do). */
const STORE_POLL_MS = 5 * 60_000;
/** Handshakes one device may have under way at once (each holds a channel it has not yet authenticated). */
const MAX_HANDSHAKING_PER_DEVICE = 8;
/** Device ids remembered as having authenticated here (their offers get the larger share of slots). */
const MAX_KNOWN_DEVICES = 10_000;

/** A running agent. */
export interface RunningAgent {
  readonly id: string;
  readonly endpoint: RtcEndpoint;
  stop(): Promise<void>;
}

/** Starts the agent daemon. The agent must be enrolled. */
export async function startAgent(config: AgentConfig, state: AgentState, log: Logger): Promise<RunningAgent> {
  // Sessions seal records with node:crypto, files are hashed with it: not a thread-pool round trip.
  useNodeCrypto();
  const initial = state.enrollment;
  if (!initial) throw new FlotillaError('bad-config', 'this agent is not enrolled: run `flotilla-agent join <token>` first');
  const enrollment: Enrollment = initial;
  const signal = config.signal ?? enrollment.signal;
  const journal = await openJournal(state.dir);
  const jobJournal = await openJobJournal(state.dir);
  for (const task of journal.recovered) log('warn', 'task-interrupted', { task });
  for (const bad of journal.setAside) log('warn', 'journal-entry-set-aside', bad);
  await removePartials(state.dir, (event, fields) => log('warn', event, fields));
  const audit = await openAuditLog(state.dir, (error) => log('error', 'audit-write-failed', { error: String(error) }));
  const dispatcher = createDispatcher({ config, state, journal, audit, log });
  // Sampled from the start, connected or not: the history is what a controller opening later sees.
  const metrics = await startMetrics({
    stateDir: state.dir,
    intervalSeconds: config.metrics.intervalSeconds,
    log: (level, event, fields) => log(level, event, fields),
  });
  const handshakes = createHandshakeLimiter(config.handshakesPerMinute);
  const revocations = createRevocationWatch(state, log);
  const knownDevices = new Set<string>();
  const handshaking = new Map<string, number>();

  // Configured servers are used as they are; otherwise the signaling server's, fetched again
  // before their TURN credentials expire.
  const identity = { keys: state.identity.keys, pub: state.identity.pub, kind: 'agent' as const, fleet: enrollment.fleet };
  const iceServers =
    config.iceServers ??
    iceServerSource(
      () => fetchIceServers(signal, identity, nodeHttp),
      () => defaultIceServers(signal),
      (error) => log('warn', 'ice-config-unavailable', { error: error.message }),
    );
  // Fetched once now, so a misconfiguration shows at start rather than at the first connection.
  if (typeof iceServers === 'function') await iceServers();

  const endpoint = createRtcEndpoint({
    signalUrl: signal,
    id: state.identity.id,
    token: () => createPeerCredential(state.identity.keys, { purpose: 'register', kind: 'agent', fleet: enrollment.fleet, ...state.identity.pub }),
    iceServers,
    trusted: (identity) => knownDevices.has(identity),
    log: (event, fields) =>
      log(
        event.includes('error') || event.includes('fail') ? 'warn' : event.startsWith('rtc-ice-restart') || event === 'rtc-packet-size' ? 'info' : 'debug',
        event,
        fields,
      ),
  });

  async function accept(link: RawLink): Promise<void> {
    // Rate limits go by device, whatever instance of it dials.
    const identity = splitSignalingId(link.remoteId).identity;
    const under = handshaking.get(identity) ?? 0;
    if (under >= MAX_HANDSHAKING_PER_DEVICE) {
      log('warn', 'handshake-refused', { peer: link.remoteId.slice(0, 8), code: 'rate-limited', detail: 'too many handshakes under way' });
      refuse(link, new FlotillaError('rate-limited', `${under} connections from this device are still being set up; try again when they finish`));
      return;
    }
    handshaking.set(identity, under + 1);
    try {
      await serveLink(link, identity);
    } finally {
      const left = (handshaking.get(identity) ?? 1) - 1;
      if (left > 0) handshaking.set(identity, left);
      else handshaking.delete(identity);
    }
  }

  async function serveLink(link: RawLink, identity: string): Promise<void> {
    const admission = handshakes.admit(identity);
    if (!admission.ok) {
      const retryS = Math.ceil(admission.retryAfterMs / 1000);
      log('warn', 'handshake-rate-limited', { peer: link.remoteId.slice(0, 8), retryAfterS: retryS });
      audit.write({ device: link.remoteId, request: 'handshake', outcome: 'refused', code: 'rate-limited' });
      // Said on the channel, so the device shows why rather than a channel that closed.
      refuse(
        link,
        new FlotillaError(
          'rate-limited',
          `more than ${config.handshakesPerMinute} connections from this device in a minute; try again in ${retryS} s (agent setting handshakesPerMinute)`,
        ),
      );
      return;
    }
    const inbox = createLinkInbox(link);
    let device: Awaited<ReturnType<typeof checkDeviceHello>> | undefined;
    try {
      const current: Enrollment = state.enrollment ?? enrollment;
      const hs = await runHandshake(link, inbox, {
        role: 'agent',
        keys: state.identity.keys,
        pub: state.identity.pub,
        id: state.identity.id,
        fleet: current.fleet,
        ...(current.hostCert ? { hostCert: current.hostCert } : {}),
        join: current.hostCert ? undefined : current.join,
        checkPeer: async (hello) => {
          device = await checkDeviceHello(hello, current.fleet, state.revocation);
          if (device.revocation && device.revocation !== state.revocation) await revocations.apply(device.revocation, 'hello');
          if (!current.fleetPub) await state.saveEnrollment({ ...current, fleetPub: device.fleetPub });
        },
      });
      if (!device) throw new FlotillaError('internal', 'handshake finished without a device check');
      const { cert } = device;
      audit.write({ device: cert.id, deviceName: cert.name, role: cert.role, request: 'handshake', outcome: 'accepted' });
      if (knownDevices.size >= MAX_KNOWN_DEVICES) knownDevices.clear();
      knownDevices.add(cert.id);
      log('info', 'session-open', { device: cert.id.slice(0, 8), name: cert.name, role: cert.role });
      const session = createSecureSession(link, inbox, hs);
      session.onClose((error) =>
        log(error && error.code !== 'channel-closed' ? 'warn' : 'info', 'session-closed', {
          device: cert.id.slice(0, 8),
          ...(error ? { reason: error.detail ?? error.code } : {}),
        }),
      );
      revocations.track(session, cert.id);
      dispatcher.serve(session, cert);
    } catch (error) {
      const failure = error instanceof FlotillaError ? error : new FlotillaError('handshake-failed', String(error));
      audit.write({
        device: link.remoteId,
        request: 'handshake',
        outcome: 'refused',
        code: failure.code,
        ...(failure.detail ? { detail: failure.detail } : {}),
      });
      log('warn', 'handshake-refused', { peer: link.remoteId.slice(0, 8), code: failure.code, detail: failure.detail });
    }
  }

  // Queued tasks and fleet documents from the store (mailbox.ts), once this host is accepted.
  // Set once the job manager exists (it reads the mailbox, which calls it back).
  const jobsRef: { current?: JobManager } = {};
  let onAlertDocuments = (): void => undefined;
  const mailbox = createMailbox({
    config,
    state,
    journal,
    audit,
    log,
    signalUrl: signal,
    http: nodeHttp,
    refreshRevocation: () => pollRevocation(),
    onDocuments: () => {
      void jobsRef.current?.reconcile('documents');
      onAlertDocuments();
    },
  });
  const saveEnrollment = state.saveEnrollment.bind(state);
  state.saveEnrollment = async (next) => {
    const hadCert = state.enrollment?.hostCert !== undefined;
    await saveEnrollment(next);
    if (!hadCert && next.hostCert) void mailbox.sync('host-cert').then(() => jobsRef.current?.reconcile('host-cert')); // just accepted: read what waits for it
  };
  // Jobs (agent/src/jobs/): installed from the job documents the mailbox keeps, evaluated again when
  // this host's tags change and when a revocation list arrives (a revoked signer's jobs go).
  const jobs = createJobManager({ config, state, audit, log, mailbox, journal: jobJournal });
  jobsRef.current = jobs;
  setJobs({ manager: jobs, refresh: () => mailbox.sync('jobs-invoke').then(() => jobs.reconcile('invoke')) });
  for (const key of ['saveRemoteTags', 'saveRevocation'] as const) {
    const save = state[key].bind(state) as (value: never) => Promise<void>;
    state[key] = (async (value: never) => {
      await save(value);
      void jobs.reconcile(key === 'saveRemoteTags' ? 'tags' : 'revocation');
    }) as never;
  }
  void jobs.reconcile('start');

  endpoint.onLink((link) => void accept(link));
  endpoint.signaling.onState((s, reason) => {
    log(s === 'open' ? 'info' : 'warn', `signaling-${s}`, reason ? { reason } : {});
    // A list stored while we were away was pushed to nobody: ask for it on every (re)connect.
    if (s === 'open') void pollRevocation();
    if (s === 'open') void mailbox.sync('register');
  });
  // The server pushes a fleet's new list to its agents the moment it stores it, and says when a record is stored for them.
  endpoint.signaling.onMessage((m) => {
    if (m.type === 'STORE' && m.payload.fleet === enrollment.fleet) void mailbox.sync('push');
    if (m.type !== 'REVOCATION') return;
    revocations.offer(m.payload, 'push').catch((error: unknown) => log('warn', 'revocation-push-refused', { error: (error as Error).message }));
  });

  async function pollRevocation(): Promise<void> {
    if (!state.enrollment?.fleetPub) return;
    try {
      const offered = await fetchRevocation(signal, enrollment.fleet, nodeHttp);
      if (offered) await revocations.offer(offered, 'poll');
    } catch (error) {
      log('warn', 'revocation-poll-failed', { error: (error as Error).message });
    }
  }
  void pollRevocation();
  const poll = setInterval(() => void pollRevocation(), REVOCATION_POLL_MS);
  poll.unref();
  const storePoll = setInterval(() => void mailbox.sync('timer'), STORE_POLL_MS);
  storePoll.unref();

  // Alert rules from the store, evaluated on every sample (alerts/engine.ts, docs/alerts.md). Started
  // once the signaling handlers above are in place: an await before them could miss the socket's open.
  const alerts = await startAlerts({ mailbox, metrics, state, log, audit });
  onAlertDocuments = () => void alerts.reload();
  void alerts.reload();

  log('info', 'agent-started', { id: state.identity.id, fleet: enrollment.fleet.slice(0, 8), signal });
  const caps = udpBufferCaps();
  if (caps)
    log('info', 'udp-buffers-capped', {
      ...caps,
      wanted: WANTED_UDP_BUFFER,
      hint: 'bulk transfers may lose packets; see docs/operations.md, "Transfer speed"',
    });
  return {
    id: state.identity.id,
    endpoint,
    async stop() {
      clearInterval(poll);
      clearInterval(storePoll);
      setJobs(undefined);
      await Promise.all([dispatcher.stopAll(3000), mailbox.stop(3000), jobs.stop(), alerts.stop()]);
      await metrics.stop();
      await endpoint.close();
      await audit.close();
      log('info', 'agent-stopped', {});
    },
  };
}
