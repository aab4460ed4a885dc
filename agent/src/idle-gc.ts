// One full garbage collection each time the agent goes quiet after work. V8 collects its old
// generation when allocation pushes it to, and collects an idle process only at some later,
// unpredictable moment: an agent that has just started holds ~61 MiB, ~57 MiB once V8 has
// collected its start-up garbage, which took anywhere from seconds to minutes (bench/README.md,
// "Memory"). A timer samples the process's CPU time; after a window with work in it, the first
// quiet window runs one full collection. Idle agents use almost no CPU, so that is a few
// milliseconds once per burst of work.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface IdleGcOptions {
  /** How often CPU time is sampled; a window is this long. */
  windowMs?: number;
  /** A window that used less CPU than this (user + system, ms) is quiet. */
  quietCpuMs?: number;
  /** Told after each collection (the agent logs it at debug level). */
  onCollect?: (info: { ms: number; heapAfter: number }) => void;
  /** For tests: the process's CPU time and the collector. */
  cpuUsage?: () => NodeJS.CpuUsage;
  gc?: () => void;
}

export interface IdleGc {
  stop(): void;
}

/** V8's collector as a function: the flag allows it, and a new context's global has it. */
function exposedGc(): () => void {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as () => void;
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  if (typeof gc !== 'function') throw new Error('V8 did not expose gc');
  return gc as () => void;
}

/** Starts sampling. Start-up counts as work: the first quiet window collects. */
export function startIdleGc(o: IdleGcOptions = {}): IdleGc {
  const windowMs = o.windowMs ?? 5_000;
  const quietCpuMs = o.quietCpuMs ?? 25;
  const cpuUsage = o.cpuUsage ?? (() => process.cpuUsage());
  const gc = o.gc ?? exposedGc();
  let last = cpuUsage();
  let worked = true;
  const timer = setInterval(() => {
    const now = cpuUsage();
    const usedMs = (now.user - last.user + now.system - last.system) / 1000;
    last = now;
    if (usedMs >= quietCpuMs) {
      worked = true;
      return;
    }
    if (!worked) return;
    worked = false;
    const t0 = performance.now();
    gc();
    o.onCollect?.({ ms: performance.now() - t0, heapAfter: process.memoryUsage().heapTotal });
    // The collection's own CPU time is not work.
    last = cpuUsage();
  }, windowMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
