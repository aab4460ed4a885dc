// Durations on the command line ("30s", "15m", "24h", "7d"), in a module light enough for the
// thin warm-mode client to load.

import { FlotillaError } from '../../shared/wire/errors.ts';

/** Parses "24h", "30m", "7d", "90s", "250ms" into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new FlotillaError('usage', `"${text}" is not a duration: write it like 30s, 15m, 24h or 7d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(match[1]) * unit);
}
