import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProgressGate, type Progress } from './progress-gate.ts';

describe('ProgressGate', () => {
  let shown: Progress[];
  let gate: ProgressGate;
  beforeEach(() => {
    vi.useFakeTimers();
    shown = [];
    gate = new ProgressGate((p) => shown.push(p), 100);
  });
  afterEach(() => vi.useRealTimers());

  it('shows the first report at once, then the latest at most every interval', () => {
    gate.moved(0, 1000);
    expect(shown).toEqual([{ bytes: 0, total: 1000 }]);
    for (let b = 10; b <= 500; b += 10) gate.moved(b, 1000);
    expect(shown).toHaveLength(1);
    vi.advanceTimersByTime(99);
    expect(shown).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(shown).toEqual([
      { bytes: 0, total: 1000 },
      { bytes: 500, total: 1000 },
    ]);
    gate.moved(600, 1000);
    vi.advanceTimersByTime(100);
    expect(shown.at(-1)).toEqual({ bytes: 600, total: 1000 });
    expect(shown).toHaveLength(3);
  });

  it('shows the last report (bytes = total) at once and drops the timer', () => {
    gate.moved(0, 1000);
    gate.moved(400, 1000);
    gate.moved(1000, 1000);
    expect(shown.at(-1)).toEqual({ bytes: 1000, total: 1000 });
    const count = shown.length;
    vi.advanceTimersByTime(1000);
    expect(shown).toHaveLength(count);
  });

  it('flush shows a waiting report, and nothing when none waits', () => {
    gate.moved(0, 1000);
    gate.moved(300, 1000);
    gate.flush();
    expect(shown.at(-1)).toEqual({ bytes: 300, total: 1000 });
    gate.flush();
    expect(shown).toHaveLength(2);
    vi.advanceTimersByTime(1000);
    expect(shown).toHaveLength(2);
  });

  it('a 50 MiB transfer in 64 KiB chunks over 2 s redraws about 20 times, not 800', () => {
    const total = 50 * 1024 * 1024;
    const chunk = 64 * 1024;
    for (let sent = 0; sent <= total; sent += chunk) {
      gate.moved(sent, total);
      vi.advanceTimersByTime(2000 / (total / chunk));
    }
    expect(shown.at(-1)).toEqual({ bytes: total, total });
    expect(shown.length).toBeGreaterThan(15);
    expect(shown.length).toBeLessThan(25);
  });
});
