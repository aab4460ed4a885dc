// Explicit limits of the signaling server and the token buckets that enforce them.

/** Every limit the server enforces; all are overridable through `startSignalingServer`. */
export interface Limits {
  /** Largest WebSocket message in bytes; a bigger one closes that socket (code 1009). */
  maxPayload: number;
  /** Sustained messages per second per socket. */
  messagesPerSecond: number;
  /** Messages a socket may send in a burst before the sustained rate applies. */
  messageBurst: number;
  /** Sustained WebSocket connection attempts per second per remote address. */
  connectsPerSecondPerIp: number;
  /** Connection attempts per remote address in a burst. */
  connectBurstPerIp: number;
  /** Sustained signed API requests (presence, revocation upload) per second per address. */
  apiPerSecondPerIp: number;
  /** API requests per address in a burst. */
  apiBurstPerIp: number;
  /** Registered peers at once (agents and devices). */
  maxPeers: number;
  /** Largest JSON request body in bytes. */
  maxJsonBody: number;
  /** Agents whose last-seen time is kept, online or not. */
  maxTrackedAgents: number;
  /** Fleets whose revocation list is kept. */
  maxFleets: number;
  /** Revocation lists for new fleets one address may store in a day (a burst of this many, then refilled over the day). */
  newFleetsPerIpPerDay: number;
  /** Instance ids one device identity may hold registered at once (processes, tabs). */
  maxInstancesPerDevice: number;
  /** Open TCP connections (HTTP and WebSocket) from one address (IPv6: one /64). */
  maxConnectionsPerIp: number;
  /** Bytes waiting to be written to one peer's socket before it counts as not reading and is closed. */
  maxBufferedPerPeer: number;
  /** Records one fleet may keep in the store (`--store-max-records`). */
  storeMaxRecords: number;
  /** Bytes of record bodies one fleet may keep in the store (`--store-max-bytes`). */
  storeMaxBytes: number;
  /** Longest a record may live, in ms (`--store-max-ttl`); also the lifetime of a record without `exp`. */
  storeMaxTtlMs: number;
  /** Largest record body, in bytes after base64 decoding. */
  storeMaxBody: number;
  /** Sustained store writes per second per fleet. */
  storeWritesPerSecond: number;
  /** Store writes one fleet may make in a burst. */
  storeWriteBurst: number;
  /** Sustained store requests (reads and writes) per second per address; each verifies a credential. */
  storeRequestsPerSecondPerIp: number;
  /** Store requests per address in a burst (agents behind one NAT all read when told something changed). */
  storeRequestBurstPerIp: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxPayload: 64 * 1024,
  // A controller fanning out to hundreds of hosts sends an offer and a few candidates to each
  // (its client paces itself at 150/s, burst 600: node/rtc/signaling-client.ts).
  messagesPerSecond: 200,
  messageBurst: 1000,
  connectsPerSecondPerIp: 20,
  connectBurstPerIp: 100,
  apiPerSecondPerIp: 20,
  apiBurstPerIp: 60,
  maxPeers: 10_000,
  maxJsonBody: 64 * 1024,
  maxTrackedAgents: 100_000,
  maxFleets: 10_000,
  newFleetsPerIpPerDay: 20,
  maxInstancesPerDevice: 16,
  // Every agent holds one connection: raise it where more agents than this share one NAT address.
  maxConnectionsPerIp: 256,
  maxBufferedPerPeer: 1024 * 1024,
  storeMaxRecords: 50_000,
  storeMaxBytes: 256 * 1024 * 1024,
  storeMaxTtlMs: 400 * 86_400_000,
  storeMaxBody: 256 * 1024,
  storeWritesPerSecond: 50,
  storeWriteBurst: 200,
  storeRequestsPerSecondPerIp: 100,
  storeRequestBurstPerIp: 500,
};

/** Merges overrides into the defaults, refusing values that would disable a limit. */
export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new RangeError(`Limit ${name} must be a positive number, not ${String(value)}.`);
    }
  }
  return limits;
}

/**
 * The key per-address limits count by: the address itself for IPv4, its /64 for IPv6 (one
 * host is usually handed a whole /64, so counting single IPv6 addresses would bound nothing).
 */
export function addressKey(remote: string): string {
  const address = remote.replace(/^::ffff:/, '');
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** A token bucket: `take()` spends one token if there is one. */
export interface TokenBucket {
  take(): boolean;
}

/** Clock in milliseconds; monotonic by default so wall-clock jumps do not refill buckets. */
export type Clock = () => number;
const monotonic: Clock = () => performance.now();

/** Creates a bucket holding up to `burst` tokens, refilled at `perSecond`. */
export function createTokenBucket(perSecond: number, burst: number, now: Clock = monotonic): TokenBucket {
  let tokens = burst;
  let at = now();
  return {
    take() {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - at) / 1000) * perSecond);
      at = t;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}

/** One bucket per key (remote address), with a bounded table. */
export interface KeyedLimiter {
  allow(key: string): boolean;
  readonly size: number;
}

/**
 * Creates a keyed limiter. The table holds at most `maxKeys` buckets: the oldest entry is
 * dropped first, so spoofed or rotating sources cost memory only up to that bound.
 */
export function createKeyedLimiter(perSecond: number, burst: number, maxKeys = 10_000, now: Clock = monotonic): KeyedLimiter {
  const buckets = new Map<string, TokenBucket>();
  return {
    allow(key) {
      let bucket = buckets.get(key);
      if (bucket) {
        buckets.delete(key); // re-insert: Map order becomes least-recently-used first
      } else {
        if (buckets.size >= maxKeys) {
          const oldest = buckets.keys().next();
          if (!oldest.done) buckets.delete(oldest.value);
        }
        bucket = createTokenBucket(perSecond, burst, now);
      }
      buckets.set(key, bucket);
      return bucket.take();
    },
    get size() {
      return buckets.size;
    },
  };
}
