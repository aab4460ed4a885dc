// An open PeerJS data connection wrapped as a RawLink: ordered delivery from the first
// message on, backpressure through bufferedamountlow, one close notification, path from stats.

import type { DataConnection } from 'peerjs';
import { FlotillaError } from '../../../../shared/wire/errors.ts';
import { fingerprintFromSdp, type PathInfo, type RawLink } from '../../../../shared/session/transport.ts';
import { createLinkCore } from '../../../../shared/session/link-core.ts';

/** Reads the selected candidate pair from the connection's stats. */
export async function pathFromStats(pc: RTCPeerConnection): Promise<PathInfo | undefined> {
  const stats = await pc.getStats();
  let pair: RTCIceCandidatePairStats | undefined;
  stats.forEach((report: { type: string; selectedCandidatePairId?: string }) => {
    if (report.type === 'transport' && report.selectedCandidatePairId) pair = stats.get(report.selectedCandidatePairId);
  });
  // Some browsers have no transport report: fall back to the nominated, succeeded pair.
  stats.forEach((report: RTCIceCandidatePairStats) => {
    if (!pair && report.type === 'candidate-pair' && report.nominated && report.state === 'succeeded') pair = report;
  });
  if (!pair) return undefined;
  const local = stats.get(pair.localCandidateId) as { candidateType?: string; protocol?: string } | undefined;
  const remote = stats.get(pair.remoteCandidateId) as { candidateType?: string } | undefined;
  const localType = local?.candidateType ?? 'unknown';
  const remoteType = remote?.candidateType ?? 'unknown';
  const protocol = local?.protocol === 'udp' || local?.protocol === 'tcp' ? local.protocol : 'unknown';
  // currentRoundTripTime is in seconds, from the latest STUN consent check on the pair.
  const rtt = pair.currentRoundTripTime;
  return {
    local: localType,
    remote: remoteType,
    protocol,
    relayed: localType === 'relay' || remoteType === 'relay',
    ...(typeof rtt === 'number' && Number.isFinite(rtt) && rtt >= 0 ? { rttMs: rtt * 1000 } : {}),
  };
}

/**
 * Builds the RawLink for a connection whose 'open' event just fired. Call it synchronously in
 * that handler: the agent sends its hello at once, and messages are kept until onMessage is set.
 */
export function createPeerjsLink(conn: DataConnection, remoteId: string, log: (event: string, fields?: Record<string, unknown>) => void): RawLink {
  const dc = conn.dataChannel;
  const pc = conn.peerConnection;
  dc.binaryType = 'arraybuffer';
  const core = createLinkCore({
    remoteId,
    bufferedAmount: () => dc.bufferedAmount,
    setLowThreshold: (bytes) => (dc.bufferedAmountLowThreshold = bytes),
    log,
  });

  function down(reason: string): void {
    if (!core.markDown(reason)) return;
    conn.close();
    core.notifyClosed();
  }

  dc.addEventListener('message', (event: MessageEvent<unknown>) => {
    const raw = event.data;
    const data = typeof raw === 'string' ? raw : raw instanceof ArrayBuffer ? new Uint8Array(raw) : undefined;
    if (data === undefined) return log('link-unexpected-message', { remoteId: remoteId.slice(0, 8), kind: typeof raw });
    core.deliver(data);
  });
  dc.addEventListener('bufferedamountlow', core.checkDrains);
  dc.addEventListener('close', () => down('the data channel closed'));
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') down(`the connection ${pc.connectionState}`);
  });
  conn.on('close', () => down('the connection closed'));

  return {
    remoteId,
    localFingerprint: fingerprintFromSdp(pc.localDescription?.sdp ?? '') ?? '',
    remoteFingerprint: fingerprintFromSdp(pc.remoteDescription?.sdp ?? '') ?? '',
    send(data) {
      if (core.closedReason !== undefined || dc.readyState !== 'open') {
        throw new FlotillaError('channel-closed', core.closedReason ?? `data channel is ${dc.readyState}`);
      }
      if (typeof data === 'string') dc.send(data);
      else dc.send(data as Uint8Array<ArrayBuffer>);
    },
    bufferedAmount: () => dc.bufferedAmount,
    waitForDrain: core.waitForDrain,
    onMessage: core.onMessage,
    onClose: core.onClose,
    close() {
      down('closed by this side');
    },
    async path() {
      try {
        return await pathFromStats(pc);
      } catch (error) {
        log('link-path-failed', { error: String(error) });
        return undefined;
      }
    },
    onPathChange(handler) {
      // ICE may connect on one pair (a relay, say) and move to a better one a moment later.
      // Browsers without RTCIceTransport events leave the path to the page's periodic reads.
      pc.sctp?.transport?.iceTransport?.addEventListener?.('selectedcandidatepairchange', () => handler());
    },
  };
}
