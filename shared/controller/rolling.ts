// Rolling runs (Salt's --batch-size, Ansible's serial and max_fail_percentage): canary hosts
// first, then batches, a pause between batches, and a stop once too many hosts have failed.
// A pure scheduler: the caller supplies the work per host and bounds concurrency within a batch.

import { FlotillaError } from '../wire/errors.ts';

/** A number of hosts, or a percentage of every host targeted. */
export type HostCount = { count: number } | { percent: number };

/** Parsed rolling options; all absent means one batch of every host. */
export interface RollingOptions {
  /** Hosts run first, as a batch of their own. */
  canary?: number;
  /** Hosts per batch after the canaries. */
  batch?: HostCount;
  /** Pause between batches, in milliseconds. */
  batchWaitMs?: number;
  /** The run stops once more hosts than this have failed. */
  maxFail?: HostCount;
}

/** The command-line flags, as text (`--canary 1 --batch 25% --batch-wait 30s --max-fail 10%`). */
export interface RollingFlags {
  canary?: string | undefined;
  batch?: string | undefined;
  'batch-wait'?: string | undefined;
  'max-fail'?: string | undefined;
}

function usage(detail: string): never {
  throw new FlotillaError('usage', detail);
}

function parseCount(flag: string, text: string, min: number, example: string): HostCount {
  const trimmed = text.trim();
  const percent = /^(\d{1,3}(?:\.\d+)?)%$/.exec(trimmed);
  if (percent) {
    const value = Number(percent[1]);
    if (value < min || value > 100) usage(`--${flag} ${text}: a percentage is between ${min}% and 100%, as in ${example}`);
    return { percent: value };
  }
  if (!/^\d{1,9}$/.test(trimmed) || Number(trimmed) < min) {
    usage(`--${flag} takes a number of hosts${min > 0 ? ` (${min} or more)` : ''} or a percentage, as in ${example}; "${text}" is neither`);
  }
  return { count: Number(trimmed) };
}

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

function parseWait(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) usage(`--batch-wait takes a duration, as in --batch-wait 30s, 500ms or 2m; "${text}" is not one`);
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? 's') as keyof typeof UNITS]);
}

/** Parses the rolling flags; throws a usage error with a sentence for the user. */
export function parseRollingOptions(flags: RollingFlags): RollingOptions {
  const options: RollingOptions = {};
  if (flags.canary !== undefined) {
    const text = flags.canary.trim();
    if (!/^\d{1,9}$/.test(text) || Number(text) < 1)
      usage(`--canary takes a whole number of hosts (1 or more), as in --canary 1; "${flags.canary}" is not one`);
    options.canary = Number(text);
  }
  if (flags.batch !== undefined) options.batch = parseCount('batch', flags.batch, 1, '--batch 5 or --batch 25%');
  if (flags['max-fail'] !== undefined) options.maxFail = parseCount('max-fail', flags['max-fail'], 0, '--max-fail 2 or --max-fail 10%');
  if (flags['batch-wait'] !== undefined) {
    if (options.batch === undefined && options.canary === undefined) {
      usage('--batch-wait needs --batch or --canary: without batches there is nothing to wait between');
    }
    options.batchWaitMs = parseWait(flags['batch-wait']);
  }
  return options;
}

/** True when any rolling option is set (the caller can skip the scheduler otherwise). */
export function isRolling(options: RollingOptions): boolean {
  return options.canary !== undefined || options.batch !== undefined || options.maxFail !== undefined;
}

/** The batches a run would use, in order: canaries first, then `batch` at a time. */
export function planBatches(hostIds: readonly string[], options: RollingOptions): string[][] {
  const total = hostIds.length;
  const batches: string[][] = [];
  let rest = [...hostIds];
  if (options.canary !== undefined && total > 0) {
    batches.push(rest.slice(0, options.canary));
    rest = rest.slice(options.canary);
  }
  const size = options.batch === undefined ? rest.length : sizeOf(options.batch, total);
  for (let i = 0; i < rest.length; i += Math.max(1, size)) batches.push(rest.slice(i, i + Math.max(1, size)));
  return batches;
}

// A percentage of every host targeted, rounded up so that 25% of 3 hosts is 1, never 0.
function sizeOf(count: HostCount, total: number): number {
  return 'count' in count ? count.count : Math.max(1, Math.ceil((total * count.percent) / 100));
}

/** Why a rolling run stopped early. */
export type StopReason = 'max-fail' | 'canary-failed' | 'aborted';

/** What a rolling run did. */
export interface RollingReport<R> {
  /** Each started host's result, in start order (a thrown error counts as failed, in `errors`). */
  results: Map<string, R>;
  errors: Map<string, unknown>;
  /** Hosts whose result was not ok, or whose work threw. */
  failed: string[];
  /** The batches started, in order. */
  batches: string[][];
  /** Hosts never started, in the order they would have run. */
  notStarted: string[];
  /** Set when the run stopped before every host had started. */
  stopped?: { reason: StopReason; message: string };
}

/** Hooks and cancellation for runRolling. */
export interface RollingHooks {
  signal?: AbortSignal;
  /** Called as a batch starts (index from 0; the canary batch is 0 when there is one). */
  onBatch?: (index: number, hostIds: readonly string[]) => void;
  /** Waits `ms` or until aborted; a test may pass its own. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The failure limit as a number of hosts: the run stops once failures exceed it. */
export function failLimit(maxFail: HostCount, total: number): number {
  return 'count' in maxFail ? maxFail.count : (total * maxFail.percent) / 100;
}

/**
 * Runs `work` over `hostIds` batch by batch (planBatches). Every host of a batch is handed to
 * `work` at once; the next batch starts when the whole batch has settled and `batchWaitMs` has
 * passed. It stops starting hosts when the failures exceed `maxFail`, when a canary fails and
 * no `maxFail` was given, or when `signal` aborts; a batch already started always settles.
 */
export async function runRolling<R extends { status: string }>(
  hostIds: readonly string[],
  options: RollingOptions,
  work: (hostId: string) => Promise<R>,
  hooks: RollingHooks = {},
): Promise<RollingReport<R>> {
  const { signal, onBatch, sleep = defaultSleep } = hooks;
  const plan = planBatches(hostIds, options);
  const report: RollingReport<R> = { results: new Map(), errors: new Map(), failed: [], batches: [], notStarted: [] };
  const limit = options.maxFail === undefined ? undefined : failLimit(options.maxFail, hostIds.length);
  const canaryBatch = options.canary !== undefined;
  const stop = (index: number, reason: StopReason, message: string) => {
    report.notStarted = plan.slice(index).flat();
    report.stopped = { reason, message };
  };
  for (const [index, batch] of plan.entries()) {
    if (index > 0 && options.batchWaitMs) await sleep(options.batchWaitMs, signal);
    if (signal?.aborted) {
      stop(index, 'aborted', `cancelled before batch ${index + 1} of ${plan.length}`);
      break;
    }
    onBatch?.(index, batch);
    report.batches.push(batch);
    const settled = await Promise.allSettled(batch.map((id) => work(id)));
    settled.forEach((outcome, i) => {
      const id = batch[i]!;
      if (outcome.status === 'fulfilled') {
        report.results.set(id, outcome.value);
        if (outcome.value.status !== 'ok') report.failed.push(id);
      } else {
        report.errors.set(id, outcome.reason);
        report.failed.push(id);
      }
    });
    if (index === plan.length - 1) break;
    const failures = report.failed.length;
    const { maxFail } = options;
    if (maxFail !== undefined && limit !== undefined && failures > limit) {
      const allowed = 'count' in maxFail ? `${maxFail.count}` : `${maxFail.percent}% of ${hostIds.length}`;
      stop(
        index + 1,
        'max-fail',
        `${failures} of ${hostIds.length} hosts failed, more than --max-fail ${allowed} allows; stopped after batch ${index + 1} of ${plan.length}`,
      );
      break;
    }
    if (limit === undefined && canaryBatch && index === 0 && failures > 0) {
      stop(
        1,
        'canary-failed',
        `the canary ${failures === 1 ? 'host' : 'hosts'} failed (${failures} of ${batch.length}); the other hosts were not started (give --max-fail to go on despite it)`,
      );
      break;
    }
  }
  return report;
}
