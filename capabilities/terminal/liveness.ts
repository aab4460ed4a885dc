// Notices a terminal connection that went silent: a network cut, or a path that came back from an
// ICE restart with its data channel wedged. The client pings every `pingMs` while a session is
// open; any message of the session (output, a pong) counts as heard. Silent for `deadMs`: `dead`
// runs once, and the client drops the connection and reattaches over a new one from the last
// byte it showed (the session lives on in the agent's ring, so nothing is lost or shown twice).
// The link's own watchdog waits 12 s and then tries an ICE restart; a terminal user is better
// served by a fresh connection sooner.

/** How often a client pings, and how long a silence means the connection is dead. */
export const PING_MS = 2_000;
export const DEAD_MS = 8_000;

export interface Liveness {
  /** A message of the session arrived. */
  heard(): void;
  /** Stops pinging (the request ended). */
  stop(): void;
}

/** Pings every `pingMs`; calls `dead(silentMs)` once when nothing was heard for `deadMs`. */
export function watchLiveness(o: { pingMs?: number; deadMs?: number; ping: () => void; dead: (silentMs: number) => void; now?: () => number }): Liveness {
  const now = o.now ?? Date.now;
  const deadMs = o.deadMs ?? DEAD_MS;
  let heardAt = now();
  let stopped = false;
  const timer = setInterval(() => {
    const silent = now() - heardAt;
    if (silent < deadMs) {
      o.ping();
      return;
    }
    stop();
    o.dead(silent);
  }, o.pingMs ?? PING_MS);
  // The request's own promise keeps a CLI running; the ping timer alone must not.
  (timer as { unref?: () => void }).unref?.();
  function stop(): void {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
  }
  return {
    heard: () => {
      heardAt = now();
    },
    stop,
  };
}
