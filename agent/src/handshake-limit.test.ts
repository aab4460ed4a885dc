import { describe, expect, it } from 'vitest';
import { createHandshakeLimiter } from './handshake-limit.ts';

describe('handshake limiter', () => {
  it('lets a device start `perMinute` handshakes in any minute, then says when the next may start', () => {
    let now = 1_000_000;
    const limiter = createHandshakeLimiter(3, () => now);
    expect([limiter.admit('dev'), limiter.admit('dev'), limiter.admit('dev')]).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    now += 10_000;
    expect(limiter.admit('dev')).toEqual({ ok: false, retryAfterMs: 50_000 });
    expect(limiter.admit('other')).toEqual({ ok: true }); // each device has its own window
    now += 50_000; // the first three are a minute old
    expect([limiter.admit('dev'), limiter.admit('dev'), limiter.admit('dev')]).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    expect(limiter.admit('dev')).toEqual({ ok: false, retryAfterMs: 60_000 });
  });

  it('does not count refused attempts: a client that keeps retrying gets in once the window has room', () => {
    let now = 0;
    const limiter = createHandshakeLimiter(2, () => now);
    limiter.admit('dev');
    limiter.admit('dev');
    for (let i = 0; i < 100; i++) {
      now += 500; // retries every half second for 50 s
      expect(limiter.admit('dev').ok).toBe(false);
    }
    now = 60_000;
    expect(limiter.admit('dev')).toEqual({ ok: true });
  });

  it('copes with a clock that steps back', () => {
    let now = 100_000;
    const limiter = createHandshakeLimiter(1, () => now);
    expect(limiter.admit('dev').ok).toBe(true);
    now = 10_000; // NTP stepped the clock back: the future entry is dropped, not kept for ever
    expect(limiter.admit('dev').ok).toBe(true);
  });
});
