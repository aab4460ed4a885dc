// Answers from the journal: a task id seen before is answered with its recorded result, and
// its recorded output is sent as `output` events (binary bodies) before it, never inside the
// result's JSON header, which is capped at MAX_HEADER_BYTES (shared/protocol.ts). Also the
// last guard on every result: one whose header would be too large is answered as `too-large`
// instead of failing to send and leaving the request unanswered.

import { utf8 } from '../../shared/wire/encoding.ts';
import { MAX_HEADER_BYTES } from '../../shared/wire/protocol.ts';
import type { JournalEntry } from './journal.ts';
import type { Offsets, Stream } from './live-tasks.ts';
import type { ResultFields } from './task-context.ts';

/** Body bytes per replayed output event. */
const REPLAY_PIECE = 64 * 1024;

/**
 * Sends a finished task's recorded output (after the first `from` bytes of each stream, what a
 * reattaching controller already has) through `output`, and returns its result fields.
 */
export async function replayEntry(entry: JournalEntry, output: (stream: Stream, bytes: Uint8Array) => Promise<void>, from?: Offsets): Promise<ResultFields> {
  for (const stream of ['stdout', 'stderr'] as const) {
    const bytes = utf8(typeof entry[stream] === 'string' ? entry[stream] : '');
    for (let at = Math.min(from?.[stream] ?? 0, bytes.length); at < bytes.length; at += REPLAY_PIECE)
      await output(stream, bytes.subarray(at, at + REPLAY_PIECE));
  }
  const status = entry.status === 'running' ? 'failed' : entry.status;
  return {
    status,
    ...(entry.exitCode === undefined ? {} : { exitCode: entry.exitCode }),
    ...(entry.status === 'running'
      ? { error: { code: 'bad-message' as const, detail: 'this task is still running; collect it from the journal later' } }
      : entry.error
        ? { error: entry.error }
        : {}),
    startedAt: entry.startedAt,
    ...(entry.endedAt ? { durationMs: entry.endedAt - entry.startedAt } : {}),
    data: { ...(entry.data ?? {}), replayed: true, truncated: entry.truncated },
  };
}

/** Room the rest of a result message takes beside its fields (type, id, JSON punctuation). */
const RESULT_OVERHEAD = 256;

/**
 * `fields` if a result carrying them fits in a message header; otherwise a `too-large` failure
 * that says so (a header over MAX_HEADER_BYTES cannot be sent at all).
 */
export function fitResult(fields: ResultFields): ResultFields {
  const size = utf8(JSON.stringify(fields)).length + RESULT_OVERHEAD;
  if (size <= MAX_HEADER_BYTES) return fields;
  return {
    status: 'failed',
    error: { code: 'too-large', detail: `this request's result (${size} bytes) is over the ${MAX_HEADER_BYTES}-byte limit of a message` },
    ...(fields.startedAt === undefined ? {} : { startedAt: fields.startedAt }),
    ...(fields.durationMs === undefined ? {} : { durationMs: fields.durationMs }),
  };
}
