// The contract between a WebRTC implementation (werift in Node, peerjs in the browser) and
// the secure session: an ordered, reliable data channel plus the DTLS fingerprints each side saw.

/** How a connection reached its peer, for display ("direct" or "relayed"). */
export interface PathInfo {
  /** Candidate type of the local side of the selected pair: host, srflx, prflx or relay. */
  local: string;
  /** Candidate type of the remote side of the selected pair. */
  remote: string;
  /** Transport protocol of the selected pair. */
  protocol: 'udp' | 'tcp' | 'unknown';
  /** True when either side is a TURN relay candidate. */
  relayed: boolean;
  /** Round-trip time of the selected pair as the ICE stack measured it, when known. */
  rttMs?: number;
}

/** An open, ordered, reliable data channel to one remote peer. */
export interface RawLink {
  /** The remote peer's signaling id. */
  readonly remoteId: string;
  /** This side's DTLS fingerprint, as in the local SDP: `sha-256 AB:CD:…`. */
  readonly localFingerprint: string;
  /** The remote DTLS fingerprint, as in the remote SDP this side applied. */
  readonly remoteFingerprint: string;
  /** Sends one data-channel message. Throws if the channel is closed. */
  send(data: Uint8Array | string): void;
  /** Bytes queued but not yet sent. */
  bufferedAmount(): number;
  /** Resolves once bufferedAmount is at or below `threshold` (or the link closed). */
  waitForDrain(threshold: number): Promise<void>;
  /** Sets the one message handler. Messages that arrived before are delivered to it. */
  onMessage(handler: (data: Uint8Array | string) => void): void;
  /** Called once when the link closes, for whatever reason. */
  onClose(handler: (reason: string) => void): void;
  /** Closes the channel and its peer connection. */
  close(): void;
  /** The selected candidate pair, when known. */
  path(): Promise<PathInfo | undefined>;
  /**
   * Calls `handler` whenever ICE selects another candidate pair (read it again with path()).
   * Optional: a link whose pair cannot change, or that cannot tell, leaves it out.
   */
  onPathChange?(handler: () => void): void;
}

/** Dials peers and accepts links from them. */
export interface Dialer {
  /** Opens a link to `remoteId`; rejects with FlotillaError('unreachable') on failure. */
  dial(remoteId: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<RawLink>;
}

/** Normalises a DTLS fingerprint to `algorithm HEX:HEX` with upper-case hex. */
export function normalizeFingerprint(value: string): string {
  const [algorithm = '', hex = ''] = value.trim().split(/\s+/, 2);
  return `${algorithm.toLowerCase()} ${hex.toUpperCase()}`;
}

/** Reads the first `a=fingerprint:` line of an SDP, normalised; undefined if absent. */
export function fingerprintFromSdp(sdp: string): string | undefined {
  const match = /^a=fingerprint:(\S+)\s+([0-9A-Fa-f:]+)\s*$/m.exec(sdp);
  if (!match?.[1] || !match[2]) return undefined;
  return normalizeFingerprint(`${match[1]} ${match[2]}`);
}
