// The agent config's `terminal` object: defaults, units, and a clear sentence for mistakes.

import { describe, expect, it } from 'vitest';
import { DEFAULT_TERMINAL_CONFIG, parseTerminalConfig } from './terminal-config.ts';

describe('terminal config', () => {
  it('defaults when absent, seconds to ms when given', () => {
    expect(parseTerminalConfig(undefined)).toEqual(DEFAULT_TERMINAL_CONFIG);
    expect(parseTerminalConfig({ detachSeconds: 30, idleSeconds: 0, maxSessions: 4, record: false })).toMatchObject({
      detachMs: 30_000,
      idleMs: 0,
      maxSessions: 4,
      record: false,
      ringBytes: DEFAULT_TERMINAL_CONFIG.ringBytes,
    });
  });

  it.each([
    [[], /terminal must be an object/],
    [{ detach: 5 }, /terminal.detach is not a setting/],
    [{ ringBytes: 1024 }, /terminal.ringBytes must be an integer from 131072/],
    [{ maxSessions: 1.5 }, /terminal.maxSessions must be an integer/],
    [{ record: 'yes' }, /terminal.record must be true or false/],
  ])('refuses %j', (raw, message) => {
    expect(() => parseTerminalConfig(raw)).toThrow(message);
  });
});
