// Rate limits of the API, one token bucket per API token: `burst` calls at once, refilled at
// `perMinute`. A call over the limit is answered 429 with Retry-After.

import { FlotillaError } from '../../../shared/wire/errors.ts';

export interface RateLimit {
  perMinute: number;
  burst: number;
}

/** 120 calls a minute, 30 at once. */
export const DEFAULT_RATE: RateLimit = { perMinute: 120, burst: 30 };

/** Parses `--rate 120/m` (or `/s`, `/h`); the burst is a quarter of a minute's calls, at least 1. */
export function parseRate(text: string): RateLimit {
  const m = /^(\d{1,7})\/(s|m|h)$/.exec(text.trim());
  if (!m || Number(m[1]) < 1) throw new FlotillaError('usage', `--rate ${JSON.stringify(text)} must be calls per unit, as in --rate 120/m (or 5/s, 3000/h)`);
  const perMinute = Number(m[1]) * (m[2] === 's' ? 60 : m[2] === 'h' ? 1 / 60 : 1);
  return { perMinute, burst: Math.max(1, Math.ceil(perMinute / 4)) };
}

/** A bucket per key; `take` answers 0 when the call may go, else the seconds to wait. */
export function createRateLimiter(limit: RateLimit, now: () => number = Date.now) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const perMs = limit.perMinute / 60_000;
  return {
    take(key: string): number {
      const t = now();
      const b = buckets.get(key) ?? { tokens: limit.burst, at: t };
      b.tokens = Math.min(limit.burst, b.tokens + (t - b.at) * perMs);
      b.at = t;
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000));
    },
  };
}
