// The werift details behind the endpoint: an open data channel wrapped as a RawLink (buffering,
// backpressure, one close notification), DTLS fingerprints, SDP sanity, path. The certificates
// are made in dtls-cert.ts.

import type { RTCDataChannel, RTCPeerConnection } from 'werift';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { createLinkCore } from '../../shared/session/link-core.ts';
import { fingerprintFromSdp, normalizeFingerprint, type PathInfo, type RawLink } from '../../shared/session/transport.ts';
import type { SignalingLog } from './signaling-client.ts';
import { BASE_PAYLOAD, routeSource, tunePacketSize, type SizableSctp } from './packet-size.ts';

/** werift applies any text as an SDP (garbage yields an empty answer): check the essentials first. */
export function sdpProblem(sdp: string): string | undefined {
  if (!sdp.startsWith('v=0')) return 'not an SDP';
  if (!/^m=application /m.test(sdp)) return 'no data-channel section in the SDP';
  if (!fingerprintFromSdp(sdp)) return 'no DTLS fingerprint in the SDP';
  if (!/^a=ice-ufrag:/m.test(sdp) || !/^a=ice-pwd:/m.test(sdp)) return 'no ICE credentials in the SDP';
  return undefined;
}

/** This side's DTLS fingerprint: the certificate werift really uses, else our SDP's. */
export function localFingerprintOf(pc: RTCPeerConnection): string {
  const fingerprints = pc.dtlsTransports[0]?.localCertificate?.getFingerprints() ?? [];
  const chosen = fingerprints.find((f) => f.algorithm.toLowerCase() === 'sha-256') ?? fingerprints[0];
  if (chosen) return normalizeFingerprint(`${chosen.algorithm} ${chosen.value}`);
  return fingerprintFromSdp(pc.localDescription?.sdp ?? '') ?? '';
}

/**
 * The nominated candidate pair of the first ICE transport, if there is one yet. werift's
 * candidate types are host, srflx, prflx and relay; the pair is relayed when either side is a
 * TURN relay candidate. For a local relay candidate, `protocol` is the transport to the TURN server.
 */
export function pathOf(pc: RTCPeerConnection): PathInfo | undefined {
  const connection = pc.iceTransports[0]?.connection;
  const pair = nominatedPair(pc);
  if (!connection || !pair) return undefined;
  const local = pair.localCandidate;
  const remote = pair.remoteCandidate;
  // A relay candidate is always UDP towards the peer; what this host uses is the transport to
  // the TURN server (werift's StunOverTurnProtocol.turn.transport: udp, tcp or tls), so report that.
  let transport = local.transport.toLowerCase();
  if (local.type === 'relay') {
    const protocols = (connection as unknown as { protocols?: { localCandidate?: unknown; turn?: { transport?: { type?: unknown } } }[] }).protocols ?? [];
    const type = protocols.find((p) => p.localCandidate === local)?.turn?.transport?.type;
    if (type === 'tcp' || type === 'tls') transport = 'tcp';
  }
  return {
    local: local.type,
    remote: remote.type,
    protocol: transport === 'udp' || transport === 'tcp' ? transport : 'unknown',
    relayed: local.type === 'relay' || remote.type === 'relay',
    // werift measures it on every ICE consent check (about every 5 s), in seconds.
    ...(typeof pair.rtt === 'number' && Number.isFinite(pair.rtt) ? { rttMs: pair.rtt * 1000 } : {}),
  };
}

/**
 * Sets the SCTP packet size for the path now selected (see packet-size.ts); logs the outcome.
 * Never throws: a failed probe leaves werift's 1,200-byte packets.
 */
async function tuneFor(pc: RTCPeerConnection, remoteId: string, log: SignalingLog): Promise<void> {
  const sctp = sizableSctpOf(pc);
  const pair = nominatedPair(pc);
  if (!sctp || !pair) return;
  const local = pair.localCandidate;
  try {
    const relayed = local.type === 'relay' || pair.remoteCandidate.type === 'relay';
    // The route to the peer tells the interface; the candidate's own address is the fallback.
    const localAddress = relayed ? undefined : ((await routeSource(pair.remoteCandidate.host)) ?? (local.type === 'host' ? local.host : local.relatedAddress));
    const choice = await tunePacketSize(sctp, { relayed, localAddress });
    log('rtc-packet-size', { remoteId, ...choice, localAddress });
  } catch (error) {
    log('rtc-packet-size-failed', { remoteId, error: String(error) });
  }
}

/** werift's SCTP association with the packet-size methods of our patch, once it exists. */
function sizableSctpOf(pc: RTCPeerConnection): SizableSctp | undefined {
  const sctp = (pc.sctpTransport as unknown as { sctp?: Partial<SizableSctp> } | undefined)?.sctp;
  return sctp && typeof sctp.probePacketSize === 'function' && typeof sctp.setMaxPayload === 'function' ? (sctp as SizableSctp) : undefined;
}

function nominatedPair(pc: RTCPeerConnection) {
  const connection = pc.iceTransports[0]?.connection;
  return connection?.nominated ?? connection?.candidatePairs.find((p) => p.nominated);
}

/**
 * Tells, each time it is called, whether the peer was heard since the last call: STUN on the
 * selected pair (consent checks, answers) or a message. A new pair (after an ICE restart)
 * counts only once something arrived on it.
 */
function peerListener(pc: RTCPeerConnection, messages: () => number): () => boolean {
  let lastPair: unknown;
  let lastCount = 0;
  let lastMessages = messages();
  return () => {
    const pair = nominatedPair(pc);
    const count = pair ? pair.requestsReceived + pair.responsesReceived + pair.packetsReceived : 0;
    const heard = messages() !== lastMessages || (pair === lastPair ? count !== lastCount : count > 0);
    lastPair = pair;
    lastCount = count;
    lastMessages = messages();
    return heard;
  };
}

/**
 * How long close() lets the channel's stream reset reach the peer before closing the peer
 * connection: werift's pc.close() tells the remote nothing, which then notices only when ICE
 * consent expires (30 s).
 */
const CLOSE_LINGER_MS = 1_000;

/**
 * Builds the RawLink for an open channel. `onDown` runs once when it closes for any reason;
 * `finished` resolves once the peer connection itself is closed.
 */
export function createRawLink(o: {
  remoteId: string;
  pc: RTCPeerConnection;
  channel: RTCDataChannel;
  log: SignalingLog;
  /** Messages that arrived before the channel was marked open, in order. */
  early?: (Uint8Array | string)[];
  /**
   * Close the link when the peer has been silent this long (no ICE consent checks or answers,
   * which both sides send about every 5 s): the network changed or went away. werift itself
   * waits 30 s. The dialing side sets it, so it can connect again soon and reattach to its tasks.
   */
  stallMs?: number;
  /**
   * Tried once when the peer goes silent, before giving up: an ICE restart (new credentials,
   * candidates gathered again on the network as it is now) that keeps the DTLS association, the
   * channel and so the secure session. If the peer is still silent `stallMs` later, the link
   * closes.
   */
  restartIce?: () => Promise<void>;
  /** Probe the path for larger SCTP packets (packet-size.ts); only towards werift peers. */
  probePackets?: boolean;
  onDown: (reason: string) => void;
}): { link: RawLink; finished: Promise<void> } {
  const { pc, channel: dc, log } = o;
  let linger: NodeJS.Timeout | undefined;
  let pcClosing = false;
  let markFinished: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (markFinished = resolve));
  const core = createLinkCore({
    remoteId: o.remoteId,
    bufferedAmount: () => dc.bufferedAmount,
    setLowThreshold: (bytes) => (dc.bufferedAmountLowThreshold = bytes),
    log: (event, fields) => log(`rtc-${event}`, fields),
    ...(o.early ? { early: o.early } : {}),
  });

  function closePc(): void {
    clearTimeout(linger);
    if (pcClosing) return;
    pcClosing = true;
    pc.close().then(markFinished, (error: unknown) => {
      log('rtc-close-failed', { error: String(error) });
      markFinished();
    });
  }

  let messagesIn = 0;
  let heardAt = Date.now();
  let restarted = false;
  const stallMs = o.stallMs;
  const restartIce = o.restartIce;
  const heard = peerListener(pc, () => messagesIn);
  const watchdog = stallMs
    ? setInterval(() => {
        if (heard()) {
          if (restarted) log('rtc-ice-restarted', { remoteId: o.remoteId, path: pathOf(pc) });
          heardAt = Date.now();
          restarted = false;
        } else if (Date.now() - heardAt > stallMs) {
          if (restartIce && !restarted) {
            restarted = true;
            heardAt = Date.now();
            log('rtc-ice-restart', { remoteId: o.remoteId, silentMs: stallMs });
            restartIce().catch((error: unknown) => log('rtc-ice-restart-failed', { remoteId: o.remoteId, error: String(error) }));
            return;
          }
          down(`the peer has not answered for ${Math.round(stallMs / 1000)} s${restarted ? ', nor after an ICE restart' : ''} (network changed or lost)`);
        }
      }, 1_000)
    : undefined;
  watchdog?.unref();

  function down(reason: string): void {
    clearInterval(watchdog);
    if (!core.markDown(reason)) return;
    if (dc.readyState === 'closed') {
      closePc();
    } else {
      try {
        if (dc.readyState !== 'closing') dc.close();
      } catch (error) {
        log('rtc-close-failed', { error: String(error) });
      }
      linger = setTimeout(closePc, CLOSE_LINGER_MS);
    }
    o.onDown(reason);
    core.notifyClosed();
  }

  // Packet size for the selected path; again whenever ICE selects another pair (an ICE restart
  // on either side), back to the base size while it is checking.
  if (o.probePackets) {
    let tunedPair = nominatedPair(pc);
    void tuneFor(pc, o.remoteId, log);
    pc.iceConnectionStateChange.subscribe((state) => {
      const pair = nominatedPair(pc);
      if (state === 'checking' || state === 'disconnected') {
        sizableSctpOf(pc)?.setMaxPayload(BASE_PAYLOAD);
        tunedPair = undefined;
      } else if (state === 'connected' && pair && pair !== tunedPair) {
        tunedPair = pair;
        void tuneFor(pc, o.remoteId, log);
      }
    });
  }

  dc.onMessage.subscribe((data) => {
    messagesIn++;
    // werift hands out Buffers (often slices of a pool): give a plain Uint8Array view.
    core.deliver(typeof data === 'string' ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  });
  dc.bufferedAmountLow.subscribe(core.checkDrains);
  dc.stateChanged.subscribe((state) => {
    if (state !== 'closed') return;
    if (core.closedReason === undefined) down('the data channel closed');
    closePc();
  });
  pc.connectionStateChange.subscribe((state) => {
    if (state !== 'failed' && state !== 'closed') return;
    down(`the connection ${state}`);
    if (state === 'failed') closePc();
    else markFinished();
  });

  const link: RawLink = {
    remoteId: o.remoteId,
    localFingerprint: localFingerprintOf(pc),
    remoteFingerprint: fingerprintFromSdp(pc.remoteDescription?.sdp ?? '') ?? '',
    send(data) {
      if (core.closedReason !== undefined || dc.readyState !== 'open') {
        throw new FlotillaError('channel-closed', core.closedReason ?? `data channel is ${dc.readyState}`);
      }
      // Copy like a browser does: werift queues the buffer and the caller may reuse theirs.
      dc.send(typeof data === 'string' ? data : Buffer.from(data));
    },
    bufferedAmount: () => dc.bufferedAmount,
    waitForDrain: core.waitForDrain,
    onMessage: core.onMessage,
    onClose: core.onClose,
    close() {
      down('closed by this side');
    },
    path() {
      try {
        return Promise.resolve(pathOf(pc));
      } catch (error) {
        log('rtc-path-failed', { error: String(error) });
        return Promise.resolve(undefined);
      }
    },
  };
  return { link, finished };
}
