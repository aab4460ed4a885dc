// Fits journal entries into one result message: a message's JSON header is capped at
// MAX_HEADER_BYTES (shared/protocol.ts), and one entry alone may hold 256 KiB per stream.

import { utf8 } from '../../shared/wire/encoding.ts';
import { MAX_HEADER_BYTES } from '../../shared/wire/protocol.ts';
import type { JournalEntry } from './journal.ts';

/** What the entries of one answer may take: the header limit less room for the rest of the result. */
export const JOURNAL_ANSWER_BUDGET = MAX_HEADER_BYTES - 16 * 1024;

type Entry = Omit<JournalEntry, 'pid'>;

const size = (value: unknown) => utf8(JSON.stringify(value)).length;

/** `text` shortened until its JSON form takes at most `bytes` bytes. */
function cut(text: string, bytes: number): string {
  let out = text;
  for (let n = size(out); n > bytes && out.length > 0; n = size(out)) out = out.slice(0, Math.max(0, Math.floor((out.length * bytes) / n) - 8));
  return out;
}

/**
 * Entries in order while their fields other than output fit in half the budget (the rest are
 * `omitted`, by task id); the other half is shared out as output, each entry's cut to its share
 * and marked `truncated`.
 */
export function fitEntries(entries: Entry[], budget = JOURNAL_ANSWER_BUDGET): { entries: Entry[]; omitted: string[] } {
  const kept: Entry[] = [];
  const omitted: string[] = [];
  let used = 0;
  for (const entry of entries) {
    const meta = size({ ...entry, stdout: '', stderr: '' }) + 1;
    if (omitted.length > 0 || used + meta > budget / 2) {
      omitted.push(entry.task);
      continue;
    }
    used += meta;
    kept.push(entry);
  }
  const share = Math.floor((budget - used) / Math.max(1, kept.length));
  return {
    entries: kept.map((entry) => {
      const stdout = typeof entry.stdout === 'string' ? entry.stdout : '';
      const stderr = typeof entry.stderr === 'string' ? entry.stderr : '';
      if (size(stdout) + size(stderr) <= share) return entry;
      const errRoom = Math.min(size(stderr), Math.floor(share / 2));
      const cutErr = cut(stderr, errRoom);
      const cutOut = cut(stdout, share - size(cutErr));
      return { ...entry, stdout: cutOut, stderr: cutErr, truncated: true };
    }),
    omitted,
  };
}
