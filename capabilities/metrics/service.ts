// The agent's metrics service: samples the host every interval from the agent's start (so the
// history covers the hours nobody was connected), keeps the history, saves it to the state
// directory once a minute and at stop, and hands each sample to live subscribers.

import { join } from 'node:path';
import { createSampler } from './sampler.ts';
import { openHistory, type History } from './history.ts';
import type { Sample } from './spec.ts';

/** How often the history is written to disk. */
const SAVE_MS = 60_000;

/** The running service. */
export interface MetricsService {
  /** Sampling interval, ms. */
  readonly interval: number;
  readonly history: History;
  /** The newest sample, if one was taken. */
  latest(): Sample | undefined;
  /** Calls `listener` with every new sample until the returned function is called. */
  subscribe(listener: (sample: Sample) => void): () => void;
  stop(): Promise<void>;
}

let current: MetricsService | undefined;

/** The service the agent started, if any (the capability's handler reads it). */
export function metricsService(): MetricsService | undefined {
  return current;
}

/** Starts sampling every `intervalSeconds`, with the history in `<stateDir>/metrics`. */
export async function startMetrics(options: {
  stateDir: string | undefined;
  intervalSeconds: number;
  log: (level: 'warn' | 'debug', event: string, fields: Record<string, unknown>) => void;
}): Promise<MetricsService> {
  const onProblem = (what: string) => options.log('warn', 'metrics-history-reset', { what });
  // A history that cannot be kept on disk (a read-only or full state directory) is kept in
  // memory: metrics are not worth an agent that does not start.
  const history = await openHistory(options.stateDir ? join(options.stateDir, 'metrics') : undefined, { onProblem }).catch((error: unknown) => {
    options.log('warn', 'metrics-history-in-memory', { error: (error as Error).message });
    return openHistory(undefined);
  });
  const sampler = createSampler();
  const listeners = new Set<(sample: Sample) => void>();
  let latest: Sample | undefined;
  let busy = false;
  let saveFailed = false;

  async function tick(): Promise<void> {
    if (busy) return; // a slow read (a disk in trouble) skips a beat rather than piling up
    busy = true;
    try {
      const sample = await sampler.sample();
      latest = sample;
      history.add(sample.t, sample.values);
      for (const listener of listeners) listener(sample);
    } catch (error) {
      options.log('warn', 'metrics-sample-failed', { error: (error as Error).message });
    } finally {
      busy = false;
    }
  }

  async function save(): Promise<void> {
    try {
      await history.save();
      saveFailed = false;
    } catch (error) {
      // Said once until it works again: a full disk would otherwise log every minute.
      if (!saveFailed) options.log('warn', 'metrics-save-failed', { error: (error as Error).message });
      saveFailed = true;
    }
  }

  await tick();
  const sampling = setInterval(() => void tick(), options.intervalSeconds * 1000);
  const saving = setInterval(() => void save(), SAVE_MS);
  sampling.unref();
  saving.unref();
  const service: MetricsService = {
    interval: options.intervalSeconds * 1000,
    history,
    latest: () => latest,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      clearInterval(sampling);
      clearInterval(saving);
      listeners.clear();
      await save();
      history.close();
      if (current === service) current = undefined;
    },
  };
  current = service;
  return service;
}
