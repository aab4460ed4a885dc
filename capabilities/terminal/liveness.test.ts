import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { watchLiveness } from './liveness.ts';

describe('watchLiveness', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('pings while the peer answers, and never calls it dead', () => {
    const ping = vi.fn();
    const dead = vi.fn();
    const live = watchLiveness({ pingMs: 1000, deadMs: 4000, ping, dead });
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(1000);
      live.heard(); // a pong (or output) for each ping
    }
    expect(ping).toHaveBeenCalledTimes(20);
    expect(dead).not.toHaveBeenCalled();
    live.stop();
  });

  it('calls it dead once after deadMs of silence, and stops pinging', () => {
    const ping = vi.fn();
    const dead = vi.fn();
    watchLiveness({ pingMs: 1000, deadMs: 4000, ping, dead });
    vi.advanceTimersByTime(3000);
    expect(ping).toHaveBeenCalledTimes(3);
    expect(dead).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000);
    expect(dead).toHaveBeenCalledTimes(1);
    expect(dead).toHaveBeenCalledWith(4000);
    vi.advanceTimersByTime(10_000);
    expect(dead).toHaveBeenCalledTimes(1);
    expect(ping).toHaveBeenCalledTimes(3);
  });

  it('counts from the last message heard, not from the start', () => {
    const dead = vi.fn();
    const live = watchLiveness({ pingMs: 1000, deadMs: 4000, ping: () => undefined, dead });
    vi.advanceTimersByTime(3500);
    live.heard();
    vi.advanceTimersByTime(3000);
    expect(dead).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1500); // the tick at 8 s: 4.5 s since the message
    expect(dead).toHaveBeenCalledTimes(1);
  });

  it('does nothing after stop', () => {
    const ping = vi.fn();
    const dead = vi.fn();
    watchLiveness({ pingMs: 1000, deadMs: 4000, ping, dead }).stop();
    vi.advanceTimersByTime(60_000);
    expect(ping).not.toHaveBeenCalled();
    expect(dead).not.toHaveBeenCalled();
  });
});
