// The scheduler's arithmetic, apart from timers and processes so it can be tested alone: the next
// planned time of an installed job, the run a restart must catch up, and the splay of a firing.

import { nextRuns, type Schedule } from '../../../shared/jobs/job.ts';

/** What the arithmetic needs of an installed job. */
export interface Plannable {
  schedule: Schedule;
  timezone?: string | undefined;
  /** `@every` counts from here: the last planned time fired, or the install. */
  anchor: number;
}

/** The next planned time strictly after `after`, or undefined (once, manual, an `at` time gone by). */
export function nextPlanned(job: Plannable, after: number): number | undefined {
  return nextRuns(job.schedule, after, 1, job.timezone, job.anchor)[0];
}

/** Planned times looked at when searching for a missed one (a seconds-level cron over a long deadline). */
const SCAN_MAX = 100_000;

/**
 * The newest planned time missed while the agent was down: after `last` (the last planned time
 * fired), at most `now`, and at most catchUpSec old. Undefined when none, when catch-up is off,
 * or when a repeating job never fired here (nothing was missed: it was not installed).
 */
export function missedRun(job: Plannable, last: number | undefined, now: number, catchUpSec: number): number | undefined {
  if (catchUpSec <= 0) return undefined;
  // An ISO time fires once: missed when it has not fired here (an `at` job saved before its time, the host down at it).
  if (job.schedule.kind === 'at') {
    const t = job.schedule.time;
    return (last === undefined || t > last) && t <= now && now - t <= catchUpSec * 1000 ? t : undefined;
  }
  if (last === undefined) return undefined;
  if (job.schedule.kind !== 'cron' && job.schedule.kind !== 'every') return undefined;
  let from = Math.max(last, now - catchUpSec * 1000 - 1);
  let found: number | undefined;
  for (let scanned = 0; scanned < SCAN_MAX; scanned += 1000) {
    const batch = nextRuns(job.schedule, from, 1000, job.timezone, job.anchor);
    for (const t of batch) {
      if (t > now) return found;
      found = t;
    }
    if (batch.length === 0) return found;
    from = batch[batch.length - 1]!;
  }
  return found;
}

/** A random delay in [0, splaySec] seconds, in ms. */
export function splay(splaySec: number, random: () => number = Math.random): number {
  return splaySec > 0 ? Math.floor(random() * (splaySec * 1000 + 1)) : 0;
}
