// Fits runs into one result message (its JSON header is capped at MAX_HEADER_BYTES): every run's
// stdout and stderr tails are cut, ends kept and a visible notice in front, to a common length
// halved until the whole answer fits; if the runs' other fields alone do not fit, the oldest go.

import { utf8 } from '../../../shared/wire/encoding.ts';
import { MAX_HEADER_BYTES } from '../../../shared/wire/protocol.ts';
import { tail, type JobRun } from '../../../shared/jobs/runs.ts';

/** What the runs of one answer may take: the header limit less room for the rest of the result. */
export const RUNS_ANSWER_BUDGET = MAX_HEADER_BYTES - 16 * 1024;

const size = (value: unknown) => utf8(JSON.stringify(value)).length;

/** The runs (oldest first), their tails cut until their JSON takes at most `budget` bytes. */
export function fitRuns(runs: JobRun[], budget = RUNS_ANSWER_BUDGET): JobRun[] {
  let kept = runs;
  while (kept.length > 0 && size(kept.map((r) => ({ ...r, stdout: '', stderr: '' }))) > budget / 2) kept = kept.slice(1);
  let max = Math.max(0, ...kept.map((r) => Math.max(r.stdout.length, r.stderr.length)));
  let out = kept;
  while (size(out) > budget && max > 0) {
    max = max > 64 ? Math.floor(max / 2) : 0;
    out = kept.map((r) => ({ ...r, stdout: max === 0 ? '' : tail(r.stdout, max), stderr: max === 0 ? '' : tail(r.stderr, max) }));
  }
  return out;
}
