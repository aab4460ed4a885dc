// The one task pipeline of every controller (CLI and PWA) for work on a selector: hosts that
// presence reports offline are answered without a dial, the rest run through the controller's
// fan-out, and every outcome is one HostResult in the closed status vocabulary, worded the same
// way on every side.

import { FlotillaError, toWireError } from '../wire/errors.ts';
import type { Controller, Settled } from './controller.ts';
import type { HostResult } from './operations.ts';
import type { ResultStatus } from '../wire/protocol.ts';
import { isRolling, runRolling, type RollingOptions } from './rolling.ts';

/** Why a host was not tried: presence says it is not connected to the signaling server. */
export const OFFLINE_DETAIL = 'offline according to the signaling server';

/** A host that presence reports offline: answered `unreachable` without a dial. */
export function offlineResult<D extends object = Record<string, unknown>>(hostId: string): HostResult<D> {
  return { hostId, status: 'unreachable', durationMs: 0, error: { code: 'unreachable', detail: OFFLINE_DETAIL } };
}

/**
 * The status of a task that ended with an error on the controller's side: not reached at all
 * (or the connection dropped mid-task) is `unreachable`, a cancel is `cancelled`, a timeout is
 * `timeout`, anything else `failed`.
 */
export function statusOfError(error: unknown, connected: boolean): ResultStatus {
  const code = error instanceof FlotillaError ? error.code : 'internal';
  if (!connected || code === 'channel-closed' || code === 'unreachable') return 'unreachable';
  if (code === 'cancelled') return 'cancelled';
  if (code === 'timeout') return 'timeout';
  return 'failed';
}

/** One host's result from what the fan-out settled (an error thrown by the work itself counts as reached). */
export function settledResult<D extends object>(settled: Settled<HostResult<D>>): HostResult<D> {
  if (settled.ok) return settled.value;
  return { hostId: settled.hostId, status: statusOfError(settled.error, true), durationMs: 0, error: toWireError(settled.error) };
}

/** A host that was in the selection but never started (a rolling run stopped first). */
export function notStartedResult<D extends object = Record<string, unknown>>(hostId: string, reason: string): HostResult<D> {
  return { hostId, status: 'cancelled', durationMs: 0, error: { code: 'cancelled', detail: `not started: ${reason}` } };
}

/** A host the pipeline runs on, with whether presence reports it online. */
export interface PipelineTarget {
  id: string;
  online: boolean;
}

/** How the pipeline runs: rolling (canary, batches, a failure limit), cancellation, progress. */
export interface PipelineOptions<D extends object> {
  rolling?: RollingOptions;
  signal?: AbortSignal;
  /** Each host's result as it settles. */
  onResult?: (result: HostResult<D>) => void;
  /** A rolling run's batch starting (index from 0; the canaries are batch 0). */
  onBatch?: (index: number, hostIds: readonly string[]) => void;
}

/** What the pipeline did: a result for every target, in their order, and why it stopped early. */
export interface PipelineOutcome<D extends object> {
  results: HostResult<D>[];
  /** Set when a rolling run stopped before starting every host (those are `cancelled`, "not started: …"). */
  stopped?: string;
}

/**
 * Runs `work` on every online target (at most the controller's forks at once) and answers the
 * offline ones. A rolling run goes batch by batch (shared/controller/rolling.ts), each batch through the
 * same fan-out, and stops when too many hosts failed; the hosts it never started are reported.
 */
export async function runPipeline<D extends object>(
  controller: Pick<Controller, 'fanOut'>,
  targets: readonly PipelineTarget[],
  work: (hostId: string) => Promise<HostResult<D>>,
  options: PipelineOptions<D> = {},
): Promise<PipelineOutcome<D>> {
  const byId = new Map<string, HostResult<D>>();
  const settle = (result: HostResult<D>) => {
    byId.set(result.hostId, result);
    options.onResult?.(result);
  };
  for (const t of targets) if (!t.online) settle(offlineResult<D>(t.id));
  const online = targets.filter((t) => t.online).map((t) => t.id);
  let stopped: string | undefined;
  if (options.rolling && isRolling(options.rolling)) {
    // Each batch goes through one fan-out, so --forks bounds it as it bounds a plain run.
    const pending = new Map<string, Promise<HostResult<D>>>();
    const onBatch = (index: number, ids: readonly string[]) => {
      const done = new Map<string, (result: HostResult<D>) => void>();
      for (const id of ids) pending.set(id, new Promise((resolve) => done.set(id, resolve)));
      void controller.fanOut(ids, work, (s) => {
        const result = settledResult(s);
        settle(result);
        done.get(s.hostId)?.(result);
      });
      options.onBatch?.(index, ids);
    };
    const report = await runRolling(online, options.rolling, (id) => pending.get(id)!, { ...(options.signal ? { signal: options.signal } : {}), onBatch });
    if (report.stopped) {
      stopped = report.stopped.message;
      for (const id of report.notStarted) settle(notStartedResult<D>(id, report.stopped.message));
    }
  } else {
    await controller.fanOut(online, work, (s) => settle(settledResult(s)));
  }
  return { results: targets.map((t) => byId.get(t.id) ?? offlineResult<D>(t.id)), ...(stopped ? { stopped } : {}) };
}

/** Exit status of a task: 0 when every host is ok. */
export function exitStatusOf(results: readonly HostResult<object>[]): 0 | 1 {
  return results.every((r) => r.status === 'ok') ? 0 : 1;
}
