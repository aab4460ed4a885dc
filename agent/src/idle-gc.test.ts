import { afterEach, describe, expect, it, vi } from 'vitest';
import { startIdleGc } from './idle-gc.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** A CPU clock the test advances: `work(ms)` adds that much CPU time before the next sample. */
function fakeCpu() {
  let usedUs = 0;
  return {
    cpuUsage: () => ({ user: usedUs, system: 0 }),
    work: (ms: number) => {
      usedUs += ms * 1000;
    },
  };
}

describe('startIdleGc', () => {
  it('collects once in the first quiet window after work, not again until there was more work', () => {
    vi.useFakeTimers();
    const cpu = fakeCpu();
    const gc = vi.fn();
    const idle = startIdleGc({ windowMs: 1000, quietCpuMs: 25, cpuUsage: cpu.cpuUsage, gc });
    cpu.work(400); // start-up
    vi.advanceTimersByTime(1000);
    expect(gc).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000); // quiet
    expect(gc).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(5000); // still quiet: nothing new to collect
    expect(gc).toHaveBeenCalledTimes(1);
    cpu.work(10); // background noise below the threshold
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(1);
    cpu.work(80); // a task
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(2);
    idle.stop();
    cpu.work(500);
    vi.advanceTimersByTime(5000);
    expect(gc).toHaveBeenCalledTimes(2);
  });

  it('collects with V8 itself when no collector is given', () => {
    vi.useFakeTimers();
    const collected: number[] = [];
    const cpu = fakeCpu();
    const idle = startIdleGc({ windowMs: 1000, cpuUsage: cpu.cpuUsage, onCollect: (info) => collected.push(info.heapAfter) });
    vi.advanceTimersByTime(1000);
    idle.stop();
    expect(collected).toHaveLength(1);
    expect(collected[0]).toBeGreaterThan(0);
  });
});
