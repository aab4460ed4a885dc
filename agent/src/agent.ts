// The agent daemon: registers with the signaling server under its key-derived id, runs the
// handshake on every incoming data channel, and serves authenticated sessions.

import { FlotillaError } from '../../shared/errors.ts';
import { createLinkInbox } from '../../shared/link-queue.ts';
import { refuse, runHandshake } from '../../shared/handshake.ts';
import { checkDeviceHello } from '../../shared/peer-checks.ts';
import { createSecureSession } from '../../shared/session.ts';
import './node-aes-gcm.ts'; // sessions seal records with node:crypto, not a thread-pool round trip
import { createPeerCredential, splitSignalingId } from '../../shared/tokens.ts';
import { verifyRevocationList } from '../../shared/certs.ts';
import { defaultIceServers, fetchIceServers, fetchRevocation, iceServerSource } from '../../shared/signal-api.ts';
import { nodeHttp } from './http-client.ts';
import type { RawLink } from '../../shared/transport.ts';
import { createRtcEndpoint, type RtcEndpoint } from './rtc/rtc-endpoint.ts';
import { udpBufferCaps, WANTED_UDP_BUFFER } from './rtc/packet-size.ts';
import { createHandshakeLimiter } from './handshake-limit.ts';
import { openJournal } from './journal.ts';
import { removePartials } from './partial-files.ts';
import { openAuditLog } from './audit.ts';
import { createDispatcher } from './dispatch.ts';
import type { AgentConfig } from './config.ts';
import type { AgentState, Enrollment } from './state.ts';
import type { Logger } from './log.ts';

const REVOCATION_POLL_MS = 5 * 60_000;

/** A running agent. */
export interface RunningAgent {
  readonly id: string;
  readonly endpoint: RtcEndpoint;
  stop(): Promise<void>;
}

/** Starts the agent daemon. The agent must be enrolled. */
export async function startAgent(config: AgentConfig, state: AgentState, log: Logger): Promise<RunningAgent> {
  const initial = state.enrollment;
  if (!initial) throw new FlotillaError('bad-config', 'this agent is not enrolled: run `flotilla-agent join <token>` first');
  const enrollment: Enrollment = initial;
  const signal = config.signal ?? enrollment.signal;
  const journal = await openJournal(state.dir);
  for (const task of journal.recovered) log('warn', 'task-interrupted', { task });
  for (const bad of journal.setAside) log('warn', 'journal-entry-set-aside', bad);
  await removePartials(state.dir, (event, fields) => log('warn', event, fields));
  const audit = await openAuditLog(state.dir, (error) => log('error', 'audit-write-failed', { error: String(error) }));
  const dispatcher = createDispatcher({ config, state, journal, audit, log });
  const handshakes = createHandshakeLimiter(config.handshakesPerMinute);

  // Configured servers are used as they are; otherwise the signaling server's, fetched again
  // before their TURN credentials expire.
  const identity = { keys: state.identity.keys, pub: state.identity.pub, kind: 'agent' as const, fleet: enrollment.fleet };
  const iceServers = config.iceServers ?? iceServerSource(
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
    log: (event, fields) => log(event.includes('error') || event.includes('fail') ? 'warn' : event.startsWith('rtc-ice-restart') || event === 'rtc-packet-size' ? 'info' : 'debug', event, fields),
  });

  async function accept(link: RawLink): Promise<void> {
    // Rate limits go by device, whatever instance of it dials.
    const admission = handshakes.admit(splitSignalingId(link.remoteId).identity);
    if (!admission.ok) {
      const retryS = Math.ceil(admission.retryAfterMs / 1000);
      log('warn', 'handshake-rate-limited', { peer: link.remoteId.slice(0, 8), retryAfterS: retryS });
      audit.write({ device: link.remoteId, request: 'handshake', outcome: 'refused', code: 'rate-limited' });
      // Said on the channel, so the device shows why rather than a channel that closed.
      refuse(link, new FlotillaError('rate-limited', `more than ${config.handshakesPerMinute} connections from this device in a minute; try again in ${retryS} s (agent setting handshakesPerMinute)`));
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
          if (device.revocation && device.revocation !== state.revocation) await state.saveRevocation(device.revocation);
          if (!current.fleetPub) await state.saveEnrollment({ ...current, fleetPub: device.fleetPub });
        },
      });
      if (!device) throw new FlotillaError('internal', 'handshake finished without a device check');
      const { cert } = device;
      audit.write({ device: cert.id, deviceName: cert.name, role: cert.role, request: 'handshake', outcome: 'accepted' });
      log('info', 'session-open', { device: cert.id.slice(0, 8), name: cert.name, role: cert.role });
      const session = createSecureSession(link, inbox, hs);
      session.onClose((error) => log(error && error.code !== 'channel-closed' ? 'warn' : 'info', 'session-closed', { device: cert.id.slice(0, 8), ...(error ? { reason: error.detail ?? error.code } : {}) }));
      dispatcher.serve(session, cert);
    } catch (error) {
      const failure = error instanceof FlotillaError ? error : new FlotillaError('handshake-failed', String(error));
      audit.write({ device: link.remoteId, request: 'handshake', outcome: 'refused', code: failure.code, ...(failure.detail ? { detail: failure.detail } : {}) });
      log('warn', 'handshake-refused', { peer: link.remoteId.slice(0, 8), code: failure.code, detail: failure.detail });
    }
  }

  endpoint.onLink((link) => void accept(link));
  endpoint.signaling.onState((s, reason) => log(s === 'open' ? 'info' : 'warn', `signaling-${s}`, reason ? { reason } : {}));

  async function pollRevocation(): Promise<void> {
    const fleetPub = state.enrollment?.fleetPub;
    if (!fleetPub) return;
    try {
      const offered = await fetchRevocation(signal, enrollment.fleet, nodeHttp);
      if (!offered) return;
      const list = await verifyRevocationList(offered, fleetPub, enrollment.fleet);
      if (!state.revocation || list.body.version > state.revocation.body.version) {
        await state.saveRevocation(list);
        log('info', 'revocation-updated', { version: list.body.version, revoked: list.body.revoked.length });
      }
    } catch (error) {
      log('warn', 'revocation-poll-failed', { error: (error as Error).message });
    }
  }
  void pollRevocation();
  const poll = setInterval(() => void pollRevocation(), REVOCATION_POLL_MS);
  poll.unref();

  log('info', 'agent-started', { id: state.identity.id, fleet: enrollment.fleet.slice(0, 8), signal });
  const caps = udpBufferCaps();
  if (caps) log('info', 'udp-buffers-capped', { ...caps, wanted: WANTED_UDP_BUFFER, hint: 'bulk transfers may lose packets; see docs/operations.md, "Transfer speed"' });
  return {
    id: state.identity.id,
    endpoint,
    async stop() {
      clearInterval(poll);
      await dispatcher.stopAll(3000);
      await endpoint.close();
      await audit.close();
      log('info', 'agent-stopped', {});
    },
  };
}
