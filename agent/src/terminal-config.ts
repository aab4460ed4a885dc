// The agent's terminal settings (capabilities/terminal): the `terminal` object of its config
// file, every field optional, checked strictly.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { isObj } from '../../shared/wire/validate.ts';

export interface TerminalConfig {
  /** Sessions at once on this host (running or ended and kept for a reattach). */
  maxSessions: number;
  /** Output each session keeps for a reattach. */
  ringBytes: number;
  /** How long a session lives with no client attached. */
  detachMs: number;
  /** A session with no input and no output for this long is hung up (0: never). */
  idleMs: number;
  /** Record sessions in asciicast v2 under <state>/recordings. */
  record: boolean;
  recordingMaxBytes: number;
  recordingsMaxBytes: number;
  recordingsMaxCount: number;
}

export const DEFAULT_TERMINAL_CONFIG: TerminalConfig = {
  maxSessions: 16,
  ringBytes: 256 * 1024,
  detachMs: 10 * 60_000,
  idleMs: 60 * 60_000,
  record: true,
  recordingMaxBytes: 8 * 1024 * 1024,
  recordingsMaxBytes: 256 * 1024 * 1024,
  recordingsMaxCount: 500,
};

const KEYS = ['maxSessions', 'ringBytes', 'detachSeconds', 'idleSeconds', 'record', 'recordingMaxBytes', 'recordingsMaxBytes', 'recordingsMaxCount'];

/** Parses the config file's `terminal` object (absent: the defaults). */
export function parseTerminalConfig(raw: unknown): TerminalConfig {
  if (raw === undefined) return DEFAULT_TERMINAL_CONFIG;
  if (!isObj(raw)) throw new FlotillaError('bad-config', 'terminal must be an object');
  for (const key of Object.keys(raw)) if (!KEYS.includes(key)) throw new FlotillaError('bad-config', `terminal.${key} is not a setting (${KEYS.join(', ')})`);
  const number = (key: string, min: number, max: number, fallback: number): number => {
    const value = raw[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
      throw new FlotillaError('bad-config', `terminal.${key} must be an integer from ${min} to ${max}`);
    return value;
  };
  const d = DEFAULT_TERMINAL_CONFIG;
  if (raw['record'] !== undefined && typeof raw['record'] !== 'boolean') throw new FlotillaError('bad-config', 'terminal.record must be true or false');
  return {
    maxSessions: number('maxSessions', 1, 64, d.maxSessions),
    ringBytes: number('ringBytes', 128 * 1024, 64 * 1024 * 1024, d.ringBytes),
    detachMs: number('detachSeconds', 1, 7 * 24 * 3600, d.detachMs / 1000) * 1000,
    idleMs: number('idleSeconds', 0, 30 * 24 * 3600, d.idleMs / 1000) * 1000,
    record: (raw['record'] as boolean | undefined) ?? d.record,
    recordingMaxBytes: number('recordingMaxBytes', 4096, 1024 ** 3, d.recordingMaxBytes),
    recordingsMaxBytes: number('recordingsMaxBytes', 4096, 64 * 1024 ** 3, d.recordingsMaxBytes),
    recordingsMaxCount: number('recordingsMaxCount', 1, 100_000, d.recordingsMaxCount),
  };
}
