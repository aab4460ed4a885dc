// The value of a rule's metric in a sample: a series of the sampler as it is, or a percent the
// sampler does not keep but rules want (`mem.used_pct`, `swap.used_pct`, `fs:<mount>:used_pct`,
// `fs:<mount>:inodes_used_pct`), computed here from its parts only for the rules that name it.

const FS_PCT = /^fs:(.+):(used|inodes_used)_pct$/;

function percent(part: number | undefined, whole: number | undefined): number | undefined {
  if (part === undefined || whole === undefined || !(whole > 0)) return undefined;
  return Math.round((part / whole) * 10_000) / 100;
}

/** The series' value, or undefined when this sample has none (the rule then counts as not breached). */
export function seriesValue(values: Readonly<Record<string, number>>, metric: string): number | undefined {
  const direct = values[metric];
  if (direct !== undefined) return direct;
  if (metric === 'mem.used_pct') return percent(values['mem.used'], values['mem.total']);
  if (metric === 'swap.used_pct') return percent(values['swap.used'], values['swap.total']);
  const fs = FS_PCT.exec(metric);
  if (fs)
    return fs[2] === 'used'
      ? percent(values[`fs:${fs[1]}:used`], values[`fs:${fs[1]}:size`])
      : percent(values[`fs:${fs[1]}:inodes_used`], values[`fs:${fs[1]}:inodes`]);
  return undefined;
}

/** The derived series names, for docs and the CLI's hints. */
export const DERIVED_SERIES = ['mem.used_pct', 'swap.used_pct', 'fs:<mount>:used_pct', 'fs:<mount>:inodes_used_pct'] as const;
