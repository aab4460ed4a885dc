import { describe, it, expect } from 'vitest';
import { scanArgv } from './argv.ts';

describe('scanArgv', () => {
  it('finds the command after options and their values, and stops at --', () => {
    expect(scanArgv(['--forks', '8', 'run', '*', '--', 'ping', '--persist', 'x'])).toEqual({
      command: 'run',
      persist: undefined,
      noPersist: false,
      help: false,
    });
    expect(scanArgv(['--json', '--persist', '10m', 'push', 'a', 'b', 'c'])).toEqual({ command: 'push', persist: '10m', noPersist: false, help: false });
    expect(scanArgv(['fetch', '--persist=2s', '--no-persist', 'x'])).toMatchObject({ command: 'fetch', persist: '2s', noPersist: true });
    expect(scanArgv(['-h', 'run']).help).toBe(true);
    expect(scanArgv(['--task', 'run', 'ping']).command).toBe('ping');
    expect(scanArgv([]).command).toBeUndefined();
  });
});
