import { describe, it, expect } from 'vitest';
import { parsePasswd, parseStat, readProcesses } from './proc-table.ts';
import { spec } from './spec.ts';

describe('parseStat', () => {
  it('reads the fields after a command name holding spaces and parentheses', () => {
    const stat = '4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 12345 1000000 300 18446744073709551615';
    expect(parseStat(stat)).toEqual({ state: 'S', ppid: 1, cpuTicks: 300, startTicks: 12345, rssPages: 300 });
  });

  it('refuses what is not a stat line', () => {
    expect(parseStat('')).toBeUndefined();
    expect(parseStat('12 (x) S')).toBeUndefined();
  });
});

describe('parsePasswd', () => {
  it('maps uids to names and skips junk', () => {
    expect([...parsePasswd('root:x:0:0:root:/root:/bin/bash\n# comment\nbad line\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n')]).toEqual([
      [0, 'root'],
      [33, 'www-data'],
    ]);
  });
});

describe('readProcesses', () => {
  it('finds this test process with its pid, parent and command line', async () => {
    const me = (await readProcesses()).find((p) => p.pid === process.pid);
    expect(me).toMatchObject({ pid: process.pid, ppid: process.ppid });
    expect(me!.command).toContain('node');
    expect(me!.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(me!.startedAt).toBeLessThanOrEqual(Date.now());
  });
});

describe('processes spec', () => {
  it('validates requests and results, and takes the role from the action', () => {
    expect(spec.request.parse({ action: 'signal', pid: 7, signal: 'KILL' })).toEqual({ action: 'signal', pid: 7, signal: 'KILL' });
    expect(() => spec.request.parse({ action: 'signal', pid: 0, signal: 'TERM' })).toThrow(/pid: out of range/);
    expect(() => spec.request.parse({ action: 'signal', pid: 5, signal: 'SEGV' })).toThrow(/signal: expected one of/);
    expect(() => spec.request.parse({ action: 'format' })).toThrow(/action: expected one of/);
    const role = spec.role as (r: ReturnType<typeof spec.request.parse>) => string;
    expect(role({ action: 'list' })).toBe('viewer');
    expect(role({ action: 'signal', pid: 5, signal: 'TERM' })).toBe('operator');
    expect(() => spec.result({ processes: [{ pid: 1, ppid: 0, user: 'root', command: 'init', state: 'S', cpu: 'lots', rssBytes: 1, startedAt: 1 }] })).toThrow(
      /cpu: expected a number/,
    );
    expect(() => spec.result({ processes: 'none' })).toThrow(/expected a list/);
  });
});
