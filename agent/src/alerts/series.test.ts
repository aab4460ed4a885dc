import { describe, expect, it } from 'vitest';
import { seriesValue } from './series.ts';

describe('alert series', () => {
  const values = {
    cpu: 12.5,
    'mem.used': 3,
    'mem.total': 4,
    'swap.total': 0,
    'swap.used': 0,
    'fs:/data:used': 91,
    'fs:/data:size': 100,
    'fs:/data:inodes_used': 1,
    'fs:/data:inodes': 8,
  };
  it('reads a sampled series as it is and derives percents from their parts', () => {
    expect(seriesValue(values, 'cpu')).toBe(12.5);
    expect(seriesValue(values, 'mem.used_pct')).toBe(75);
    expect(seriesValue(values, 'fs:/data:used_pct')).toBe(91);
    expect(seriesValue(values, 'fs:/data:inodes_used_pct')).toBe(12.5);
  });
  it('has no value for a missing series or a whole of zero (no swap)', () => {
    expect(seriesValue(values, 'swap.used_pct')).toBeUndefined();
    expect(seriesValue(values, 'fs:/gone:used_pct')).toBeUndefined();
    expect(seriesValue(values, 'temp:cpu')).toBeUndefined();
  });
});
