// The Node side of the WebRTC transport: werift peer connections negotiated over PeerJS
// signaling. The agent answers with it, the CLI dials with it; both get RawLinks.

import { randomBytes } from 'node:crypto';
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { OfferPayload, PeerjsCandidate, PeerjsMessage } from '../../shared/wire/peerjs-messages.ts';
import type { Dialer, RawLink } from '../../shared/session/transport.ts';
import { createRawLink, sdpProblem } from './raw-link.ts';
import { selfSignedDtlsKeys } from './dtls-cert.ts';
import { fingerprintFromSdp } from '../../shared/session/transport.ts';
import { splitSignalingId } from '../../shared/identity/tokens.ts';
import { createSignalingClient, type SignalingClient, type SignalingLog, type SignalingToken } from './signaling-client.ts';

/** A STUN or TURN server, as in RTCConfiguration. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** Options for createRtcEndpoint. */
export interface RtcEndpointOptions {
  /** Signaling server base URL, `http(s)://host:port/path/`. */
  signalUrl: string;
  /** Our PeerJS id and its registration token (or a provider of fresh ones). */
  id: string;
  token: SignalingToken;
  /**
   * Must not be empty: werift would fall back to Google's STUN server. A function is asked for
   * every new connection (TURN credentials expire: see iceServerSource in shared/controller/signal-api.ts).
   */
  iceServers: IceServer[] | (() => Promise<IceServer[]>);
  /** Extra host addresses to gather (werift skips loopback); default ['127.0.0.1']. */
  additionalHostAddresses?: string[];
  /** Data channel label for links we dial; default 'flotilla'. */
  label?: string;
  log?: SignalingLog;
  /** Keep the signaling registration up with reconnects (default true). */
  reconnect?: boolean;
  /**
   * Answering: whether a peer identity (a device id, without its instance suffix) has
   * authenticated here before. Offers from others share a smaller pool of negotiation slots,
   * so strangers cannot crowd out the fleet's devices (see admitOffer).
   */
  trusted?: (identity: string) => boolean;
}

/** Dials and answers WebRTC data-channel links. */
export interface RtcEndpoint extends Dialer {
  /** Sets the handler for links peers open to us; links that opened before are delivered to it. */
  onLink(h: (link: RawLink) => void): void;
  readonly signaling: SignalingClient;
  /** Closes signaling, every negotiation and every link. */
  close(): Promise<void>;
}

const DEFAULT_DIAL_TIMEOUT_MS = 15_000;
/** A dialed link whose peer has been silent this long is closed (see createRawLink's stallMs). */
const STALL_MS = 12_000;
/** An offer we answered must open its channel within this time. */
const ANSWER_TIMEOUT_MS = 30_000;
/** Offers being negotiated at once; more are ignored (a flood from the signaling side). */
const MAX_NEGOTIATING = 64;
/** Of those, at most this many from one peer identity (all its instances together)... */
const MAX_NEGOTIATING_PER_PEER = 8;
/** ...and at most this many from identities that never authenticated here (`trusted`). */
const MAX_NEGOTIATING_STRANGERS = 16;
/** Candidates kept per connection before its offer or answer arrives. */
const MAX_EARLY_CANDIDATES = 32;
const MAX_EARLY_CONNECTIONS = 256;
const EARLY_CANDIDATE_TTL_MS = 30_000;

interface Session {
  connectionId: string;
  remoteId: string;
  role: 'dial' | 'answer';
  state: 'negotiating' | 'open' | 'closed';
  /** Answerer: the remote id without a device's instance suffix, and whether it was trusted. */
  identity?: string;
  trusted?: boolean;
  pc?: RTCPeerConnection;
  channel?: RTCDataChannel;
  link?: RawLink;
  /** Resolves once the peer connection is closed (links close it after a short linger). */
  finished?: Promise<void>;
  /** Local candidates wait until our SDP has been sent. */
  sdpSent: boolean;
  localQueue: PeerjsCandidate[];
  /** Remote candidates wait until the remote SDP has been applied. */
  remoteApplied: boolean;
  remoteQueue: PeerjsCandidate[];
  /** Dialer: our offer is applied (werift must not apply the answer during gathering). */
  localApplied?: Promise<unknown>;
  answered: boolean;
  /**
   * Whether this side probes the path for larger SCTP packets (packet-size.ts): the dialer
   * always (agents are werift); the answerer only when the offer says the dialer is a Flotilla
   * Node peer (metadata.packetProbe). Chromium never answered the padded HEARTBEAT, so browsers
   * are not probed.
   */
  probePackets?: boolean;
  /** performance.now() when the session began: `rtc-phase` events say how long each step took. */
  startedAt: number;
  /** An open link renegotiating ICE (a restart); when the last restart offer came, for the answerer. */
  restarting?: boolean;
  lastRestart?: number;
  timer?: NodeJS.Timeout;
  /** Reports the outcome of negotiation once. */
  settle: (result: RawLink | string) => void;
}

/** An offer or answer as werift makes it. */
type Description = Awaited<ReturnType<RTCPeerConnection['createOffer']>>;

/** Sessions are keyed by peer and connection id: another peer cannot squat on an id. */
function keyOf(peer: string, connectionId: string): string {
  return JSON.stringify([peer, connectionId]);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Creates an endpoint registered as `o.id` on the signaling server. */
export function createRtcEndpoint(o: RtcEndpointOptions): RtcEndpoint {
  const noIce = () => new FlotillaError('bad-config', 'no ICE servers configured (werift would fall back to a public STUN server)');
  if (Array.isArray(o.iceServers) && o.iceServers.length === 0) throw noIce();
  const log: SignalingLog = o.log ?? (() => undefined);
  const label = o.label ?? 'flotilla';
  const hosts = o.additionalHostAddresses ?? ['127.0.0.1'];
  const staticIce = Array.isArray(o.iceServers) ? o.iceServers.map((s) => ({ ...s })) : undefined;
  const iceServers = async (): Promise<IceServer[]> => {
    const servers = staticIce ?? (await (o.iceServers as () => Promise<IceServer[]>)()).map((s) => ({ ...s }));
    if (servers.length === 0) throw noIce();
    return servers;
  };
  const signaling = createSignalingClient({ url: o.signalUrl, id: o.id, token: o.token, reconnect: o.reconnect ?? true, log });
  const sessions = new Map<string, Session>();
  const early = new Map<string, { src: string; at: number; candidates: PeerjsCandidate[] }>();
  const unclaimed: RawLink[] = [];
  let linkHandler: ((link: RawLink) => void) | undefined;
  let closed = false;

  function newSession(connectionId: string, remoteId: string, role: Session['role'], settle: Session['settle']): Session {
    const s: Session = {
      connectionId,
      remoteId,
      role,
      state: 'negotiating',
      sdpSent: false,
      localQueue: [],
      remoteApplied: false,
      remoteQueue: [],
      answered: false,
      settle,
      startedAt: performance.now(),
    };
    sessions.set(keyOf(remoteId, connectionId), s);
    return s;
  }

  /** Logs how far a negotiation got (`-v` on the CLI prints it): where a slow connect spends its time. */
  function phase(s: Session, name: string): void {
    if (s.state === 'negotiating') log('rtc-phase', { remoteId: s.remoteId, phase: name, ms: Math.round((performance.now() - s.startedAt) * 10) / 10 });
  }

  /** Tears a session down; before it opened, reports `reason` as the failure. */
  function end(s: Session, reason: string): void {
    if (s.state === 'closed') return;
    const wasNegotiating = s.state === 'negotiating';
    s.state = 'closed';
    clearTimeout(s.timer);
    if (sessions.get(keyOf(s.remoteId, s.connectionId)) === s) sessions.delete(keyOf(s.remoteId, s.connectionId));
    if (s.link) {
      s.link.close();
    } else if (s.pc) {
      s.finished = s.pc.close().catch((error: unknown) => log('rtc-close-failed', { error: describe(error) }));
    }
    if (wasNegotiating) s.settle(reason);
  }

  function sendCandidate(s: Session, candidate: PeerjsCandidate): void {
    signaling.send({ type: 'CANDIDATE', dst: s.remoteId, payload: { candidate, type: 'data', connectionId: s.connectionId } });
  }

  function sdpSent(s: Session): void {
    s.sdpSent = true;
    for (const c of s.localQueue.splice(0)) sendCandidate(s, c);
  }

  /** Never awaited one after another: an unresolvable `.local` candidate blocks for 10 s. */
  function addRemoteCandidate(s: Session, c: PeerjsCandidate): void {
    s.pc?.addIceCandidate(c).catch((error: unknown) => log('rtc-candidate-rejected', { connectionId: s.connectionId, error: describe(error) }));
  }

  function remoteApplied(s: Session): void {
    s.remoteApplied = true;
    for (const c of s.remoteQueue.splice(0)) addRemoteCandidate(s, c);
  }

  async function newPeerConnection(s: Session): Promise<RTCPeerConnection | undefined> {
    // Each connection gets its own certificate: one per process would link every connection
    // of this host by its fingerprint.
    const keys = selfSignedDtlsKeys();
    const servers = await iceServers();
    if (s.state === 'closed') return undefined;
    const pc = new RTCPeerConnection({ iceServers: servers, iceAdditionalHostAddresses: hosts, dtls: { keys } });
    s.pc = pc;
    pc.onIceCandidate.subscribe((c) => {
      if (!c?.candidate || s.state === 'closed') return;
      const candidate = {
        candidate: c.candidate,
        sdpMid: c.sdpMid ?? null,
        sdpMLineIndex: c.sdpMLineIndex ?? null,
        usernameFragment: c.usernameFragment ?? null,
      };
      if (s.sdpSent) sendCandidate(s, candidate);
      else s.localQueue.push(candidate);
    });
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') phase(s, 'dtls-connected');
      if ((state === 'failed' || state === 'closed') && s.state === 'negotiating') end(s, `connection ${state}`);
    });
    pc.iceConnectionStateChange.subscribe((state) => {
      if (state === 'connected') phase(s, 'ice-connected');
    });
    return pc;
  }

  function watchChannel(s: Session, dc: RTCDataChannel): void {
    if (s.channel) {
      log('rtc-extra-channel', { connectionId: s.connectionId, label: dc.label });
      dc.close();
      return;
    }
    s.channel = dc;
    // werift can deliver the peer's first message before the DCEP ACK marks the channel open
    // (the agent sends its hello at once): keep everything from creation on, in order.
    const early: (Uint8Array | string)[] = [];
    const earlySubscription = dc.onMessage.subscribe((data) => {
      early.push(typeof data === 'string' ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    });
    const opened = (): void => {
      const pc = s.pc;
      if (s.state !== 'negotiating' || !pc) return;
      phase(s, 'channel-open');
      let wrapped: ReturnType<typeof createRawLink>;
      try {
        earlySubscription.unSubscribe();
        wrapped = createRawLink({
          remoteId: s.remoteId,
          pc,
          channel: dc,
          log,
          early,
          probePackets: s.role === 'dial' || s.probePackets === true,
          ...(s.role === 'dial' ? { stallMs: STALL_MS, restartIce: () => restartIce(s) } : {}),
          onDown: () => end(s, 'link closed'),
        });
      } catch (error) {
        return end(s, `could not wrap the channel: ${describe(error)}`);
      }
      s.state = 'open';
      clearTimeout(s.timer);
      s.link = wrapped.link;
      s.finished = wrapped.finished;
      s.settle(wrapped.link);
    };
    dc.stateChanged.subscribe((state) => {
      if (state === 'open') opened();
      else if (state === 'closed' && s.state === 'negotiating') end(s, 'data channel closed before it opened');
    });
    if (dc.readyState === 'open') opened();
  }

  async function startDial(s: Session): Promise<void> {
    const pc = await newPeerConnection(s);
    if (!pc) return;
    watchChannel(s, pc.createDataChannel(label, { ordered: true }));
    const offer = await pc.createOffer();
    if (s.state !== 'negotiating') return;
    await sendOffer(s, pc, offer);
  }

  /**
   * Sends our offer, then applies it. Before setLocalDescription: werift gathers inside it and
   * waits up to 5 s for an unanswered STUN server; both sides then gather in parallel.
   */
  async function sendOffer(s: Session, pc: RTCPeerConnection, offer: Description): Promise<void> {
    const payload = {
      sdp: { type: 'offer', sdp: offer.sdp },
      type: 'data',
      connectionId: s.connectionId,
      label,
      reliable: true,
      serialization: 'raw',
      metadata: { packetProbe: true },
    };
    signaling.send({ type: 'OFFER', dst: s.remoteId, payload });
    phase(s, 'offer-sent');
    sdpSent(s);
    s.localApplied = pc.setLocalDescription(offer);
    await s.localApplied;
  }

  async function sendAnswer(s: Session, pc: RTCPeerConnection, answer: Description): Promise<void> {
    signaling.send({ type: 'ANSWER', dst: s.remoteId, payload: { sdp: { type: 'answer', sdp: answer.sdp }, type: 'data', connectionId: s.connectionId } });
    phase(s, 'answer-sent');
    sdpSent(s);
    await pc.setLocalDescription(answer);
  }

  /**
   * Dialer: an ICE restart on an open link (new ICE credentials, candidates gathered again) over
   * the same signaling path. DTLS, the channel and the secure session stay as they are.
   */
  async function restartIce(s: Session): Promise<void> {
    const pc = s.pc;
    if (!pc || s.state !== 'open') return;
    s.restarting = true;
    s.answered = false;
    s.remoteApplied = false;
    s.sdpSent = false;
    const offer = await pc.createOffer({ iceRestart: true });
    if (s.state !== 'open') return;
    await sendOffer(s, pc, offer);
  }

  /** Answerer: the dialer restarts ICE on a link that is open. */
  async function answerRestart(s: Session, sdp: string): Promise<void> {
    const pc = s.pc;
    if (!pc || s.state !== 'open') return;
    s.remoteApplied = false;
    s.sdpSent = false;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    remoteApplied(s);
    const answer = await pc.createAnswer();
    if (s.state !== 'open') return;
    await sendAnswer(s, pc, answer);
    log('rtc-ice-restart-answered', { remoteId: s.remoteId, connectionId: s.connectionId });
  }

  /**
   * A restart's SDP must keep the peer's DTLS fingerprint: the secure session is bound to it,
   * and a restart never changes the DTLS association.
   */
  function restartProblem(s: Session, sdp: string): string | undefined {
    const problem = sdpProblem(sdp);
    if (problem) return problem;
    if (s.link && fingerprintFromSdp(sdp) !== s.link.remoteFingerprint) return 'the DTLS fingerprint changed';
    return undefined;
  }

  async function applyAnswer(s: Session, sdp: string): Promise<void> {
    await s.localApplied;
    if (s.state !== 'negotiating' || !s.pc) return;
    phase(s, 'answer-received');
    await s.pc.setRemoteDescription({ type: 'answer', sdp });
    remoteApplied(s);
  }

  async function startAnswer(s: Session, sdp: string): Promise<void> {
    const pc = await newPeerConnection(s);
    if (!pc) return;
    pc.onDataChannel.subscribe((dc) => watchChannel(s, dc));
    await pc.setRemoteDescription({ type: 'offer', sdp });
    remoteApplied(s);
    const answer = await pc.createAnswer();
    if (s.state !== 'negotiating') return;
    await sendAnswer(s, pc, answer);
  }

  function deliver(link: RawLink): void {
    if (!linkHandler) return void unclaimed.push(link);
    try {
      linkHandler(link);
    } catch (error) {
      log('rtc-link-handler-failed', { error: describe(error) });
    }
  }

  /**
   * Whether a new offer from `identity` may start negotiating. Nothing is known of the peer
   * yet (the handshake comes after the channel opens), and each unanswered negotiation holds a
   * slot for up to ANSWER_TIMEOUT_MS: so one identity holds at most MAX_NEGOTIATING_PER_PEER,
   * strangers together MAX_NEGOTIATING_STRANGERS. A full pool makes room by ending the oldest
   * negotiation of the peer holding the most slots in it, when that peer holds at least two
   * more than the newcomer (so the slots even out instead of one flooder keeping them all); a
   * trusted newcomer may also take any stranger's slot.
   */
  function admitOffer(identity: string, trusted: boolean): string | undefined {
    const negotiating = [...sessions.values()].filter((x) => x.role === 'answer' && x.state === 'negotiating');
    const held = (who: string) => negotiating.filter((x) => x.identity === who).length;
    if (held(identity) >= MAX_NEGOTIATING_PER_PEER) return 'too many negotiations from this peer';
    const pool = negotiating.filter((x) => x.trusted === trusted);
    const poolFull = pool.length >= (trusted ? MAX_NEGOTIATING : MAX_NEGOTIATING_STRANGERS);
    if (!poolFull && negotiating.length < MAX_NEGOTIATING) return undefined;
    const strangersToTrusted = trusted && !poolFull;
    const candidates = (strangersToTrusted ? negotiating.filter((x) => !x.trusted) : pool).filter((x) => x.identity !== identity);
    const byHolder = new Map<string, Session[]>();
    for (const x of candidates) byHolder.set(x.identity ?? '', [...(byHolder.get(x.identity ?? '') ?? []), x]);
    const biggest = [...byHolder.values()].sort((a, b) => b.length - a.length)[0] ?? [];
    const victim = biggest[0];
    if (!victim || (!strangersToTrusted && biggest.length < held(identity) + 2)) return 'too many negotiations';
    end(victim, "made room for another peer's offer");
    return undefined;
  }

  function onOffer(src: string, p: OfferPayload): void {
    if (closed) return;
    if (p.type !== 'data') return log('rtc-offer-ignored', { src, reason: `type ${p.type}` });
    const key = keyOf(src, p.connectionId);
    const existing = sessions.get(key);
    if (existing) {
      // The dialer of an open link restarting ICE (its network changed); at most one every 5 s.
      if (existing.role !== 'answer' || existing.state !== 'open') return log('rtc-offer-ignored', { src, reason: 'duplicate connectionId' });
      const now = Date.now();
      if (existing.lastRestart !== undefined && now - existing.lastRestart < 5_000) return log('rtc-offer-ignored', { src, reason: 'ICE restarts too often' });
      const problem = restartProblem(existing, p.sdp.sdp);
      if (problem) return log('rtc-offer-ignored', { src, reason: `ICE restart: ${problem}` });
      existing.lastRestart = now;
      answerRestart(existing, p.sdp.sdp).catch((error: unknown) => log('rtc-ice-restart-failed', { remoteId: src, error: describe(error) }));
      return;
    }
    const problem = sdpProblem(p.sdp.sdp);
    if (problem) return log('rtc-offer-ignored', { src, reason: problem });
    const identity = splitSignalingId(src).identity;
    const trusted = o.trusted?.(identity) ?? false;
    const refusal = admitOffer(identity, trusted);
    if (refusal) return log('rtc-offer-ignored', { src, reason: refusal });
    const s = newSession(p.connectionId, src, 'answer', (result) => {
      if (typeof result === 'string') log('rtc-answer-failed', { remoteId: src, connectionId: p.connectionId, reason: result });
      else deliver(result);
    });
    s.identity = identity;
    s.trusted = trusted;
    s.probePackets = (p.metadata as { packetProbe?: unknown } | null | undefined)?.packetProbe === true;
    s.remoteQueue.push(...(early.get(key)?.candidates ?? []));
    early.delete(key);
    s.timer = setTimeout(() => end(s, `not connected after ${ANSWER_TIMEOUT_MS} ms`), ANSWER_TIMEOUT_MS);
    startAnswer(s, p.sdp.sdp).catch((error: unknown) => end(s, `answering failed: ${describe(error)}`));
  }

  function onCandidate(src: string, connectionId: string, candidate: PeerjsCandidate): void {
    const key = keyOf(src, connectionId);
    const s = sessions.get(key);
    if (s) {
      if (s.remoteApplied) addRemoteCandidate(s, candidate);
      else if (s.remoteQueue.length < MAX_EARLY_CANDIDATES) s.remoteQueue.push(candidate);
      return;
    }
    // A CANDIDATE can overtake its OFFER: keep a few per connection for a while.
    const now = Date.now();
    for (const [id, entry] of early) if (now - entry.at > EARLY_CANDIDATE_TTL_MS) early.delete(id);
    const entry = early.get(key);
    if (entry) {
      if (entry.candidates.length < MAX_EARLY_CANDIDATES) entry.candidates.push(candidate);
    } else if (early.size < MAX_EARLY_CONNECTIONS) {
      early.set(key, { src, at: now, candidates: [candidate] });
    }
  }

  function onSignal(m: PeerjsMessage): void {
    switch (m.type) {
      case 'OFFER':
        return onOffer(m.src, m.payload);
      case 'ANSWER': {
        const s = sessions.get(keyOf(m.src, m.payload.connectionId));
        if (s && s.role === 'dial' && s.state === 'open' && s.restarting && !s.answered) {
          s.answered = true;
          s.restarting = false;
          const problem = restartProblem(s, m.payload.sdp.sdp);
          if (problem) return log('rtc-answer-ignored', { src: m.src, reason: `ICE restart: ${problem}` });
          const pc = s.pc;
          const sdp = m.payload.sdp.sdp;
          void (async () => {
            await s.localApplied;
            await pc?.setRemoteDescription({ type: 'answer', sdp });
            remoteApplied(s);
          })().catch((error: unknown) => log('rtc-ice-restart-failed', { remoteId: m.src, error: describe(error) }));
          return;
        }
        if (!s || s.role !== 'dial' || s.answered || s.state !== 'negotiating') {
          return log('rtc-answer-ignored', { src: m.src, connectionId: m.payload.connectionId });
        }
        s.answered = true;
        const problem = sdpProblem(m.payload.sdp.sdp);
        if (problem) return end(s, `bad answer: ${problem}`);
        applyAnswer(s, m.payload.sdp.sdp).catch((error: unknown) => end(s, `bad answer: ${describe(error)}`));
        return;
      }
      case 'CANDIDATE':
        return onCandidate(m.src, m.payload.connectionId, m.payload.candidate);
      case 'LEAVE':
      case 'EXPIRE': {
        // Open links survive: only negotiations that need the signaling path fail.
        const why = m.type === 'EXPIRE' ? 'the peer is not connected to the signaling server' : 'the peer left the signaling server';
        for (const s of [...sessions.values()]) if (s.remoteId === m.src && s.state === 'negotiating') end(s, why);
        for (const [id, entry] of early) if (entry.src === m.src) early.delete(id);
        return;
      }
      default:
        return;
    }
  }
  signaling.onMessage(onSignal);

  return {
    signaling,
    dial(remoteId, options = {}) {
      if (closed) return Promise.reject(new FlotillaError('unreachable', 'the endpoint is closed'));
      const timeoutMs = options.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
      const signal = options.signal;
      return new Promise<RawLink>((resolve, reject) => {
        const onAbort = (): void => end(s, 'dial cancelled');
        const s = newSession(`dc_${randomBytes(12).toString('hex')}`, remoteId, 'dial', (result) => {
          signal?.removeEventListener('abort', onAbort);
          if (typeof result === 'string') reject(new FlotillaError('unreachable', `${remoteId}: ${result}`));
          else resolve(result);
        });
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        s.timer = setTimeout(() => end(s, `no connection after ${timeoutMs} ms`), timeoutMs);
        startDial(s).catch((error: unknown) => end(s, `dialing failed: ${describe(error)}`));
      });
    },
    onLink(h) {
      linkHandler = h;
      for (const link of unclaimed.splice(0)) deliver(link);
    },
    async close() {
      if (closed) return;
      closed = true;
      signaling.close();
      const all = [...sessions.values()];
      for (const s of all) end(s, 'the endpoint closed');
      early.clear();
      unclaimed.length = 0;
      await Promise.allSettled(all.map((s) => s.finished));
    },
  };
}
