// How many handshakes one device may start on this agent in a minute (SECURITY-MODEL.md, "Bad
// input": each costs the agent two RSA private-key operations on top of DTLS). A sliding window
// over the handshakes it let through: a refused attempt does not count, so a client that
// retries gets in as soon as the window has room, instead of staying locked out for as long as
// it keeps trying.

export const DEFAULT_HANDSHAKES_PER_MINUTE = 120;
const WINDOW_MS = 60_000;
/** Peers remembered at most; the oldest are forgotten first (a flood of new ids). */
const MAX_PEERS = 10_000;

export type HandshakeAdmission = { ok: true } | { ok: false; retryAfterMs: number };

export interface HandshakeLimiter {
  /** Lets a handshake from `peer` through (and counts it), or says when the next one may start. */
  admit(peer: string): HandshakeAdmission;
}

export function createHandshakeLimiter(perMinute = DEFAULT_HANDSHAKES_PER_MINUTE, now: () => number = Date.now): HandshakeLimiter {
  const recent = new Map<string, number[]>();
  return {
    admit(peer) {
      const t = now();
      const times = (recent.get(peer) ?? []).filter((at) => t - at < WINDOW_MS && at <= t);
      if (times.length >= perMinute) {
        recent.set(peer, times);
        return { ok: false, retryAfterMs: Math.max(1, WINDOW_MS - (t - (times[0] ?? t))) };
      }
      times.push(t);
      recent.delete(peer); // re-inserted last: the map's order is least recently admitted first
      recent.set(peer, times);
      while (recent.size > MAX_PEERS) recent.delete(recent.keys().next().value as string);
      return { ok: true };
    },
  };
}
