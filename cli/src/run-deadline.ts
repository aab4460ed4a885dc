// `run` past its deadline (--timeout plus the grace of deadline.ts): hosts that have not answered
// are reported as such instead of being waited for.

import type { HostResult } from '../../shared/controller/operations.ts';
import { RUN_GRACE_MS, seconds } from './deadline.ts';

/** Calls `then` once `deadline` is aborted (at once if it already is); never without a deadline. */
export function whenExpired(deadline: AbortSignal | undefined, then: () => void): void {
  if (!deadline) return;
  if (deadline.aborted) then();
  else deadline.addEventListener('abort', then, { once: true });
}

/** The result of a host that did not answer within --timeout and the grace. */
export function noAnswer(hostId: string, timeout: string | undefined, durationMs: number): HostResult {
  return {
    hostId,
    status: 'timeout',
    durationMs: Math.round(durationMs),
    error: { code: 'timeout', detail: `no answer within --timeout ${timeout ?? '?'} and ${seconds(RUN_GRACE_MS)} more` },
  };
}
