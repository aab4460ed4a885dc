// Time bounds of one CLI invocation: how long to wait for the signaling server before saying it
// cannot be reached, and the whole invocation's bound from --timeout, so that no command hangs.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { parseDuration } from './duration.ts';

/** How long the CLI waits to register with the signaling server (FLOTILLA_CONNECT_TIMEOUT overrides). */
export const CONNECT_TIMEOUT_MS = 5_000;
/**
 * What `run` allows past --timeout: the agent kills the command at --timeout, its process group
 * gets 2 s after SIGTERM (agent/src/handlers/exec.ts), and the result must still travel back.
 */
export const RUN_GRACE_MS = 5_000;

/** "5s", "0.25s". */
export function seconds(ms: number): string {
  return `${+(ms / 1000).toFixed(3)}s`;
}

/** The connect timeout from the environment, or the default. */
export function connectTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env['FLOTILLA_CONNECT_TIMEOUT'];
  if (!text) return CONNECT_TIMEOUT_MS;
  const ms = parseDuration(text);
  if (ms <= 0) throw new FlotillaError('bad-config', `FLOTILLA_CONNECT_TIMEOUT=${text} must be longer than 0`);
  return ms;
}

/** The invocation's bound from --timeout (undefined: no bound), with `run`'s grace added. */
export function invocationBoundMs(command: string, timeout: string | undefined): number | undefined {
  if (timeout === undefined) return undefined;
  const ms = parseDuration(timeout);
  if (ms <= 0) throw new FlotillaError('usage', `--timeout ${timeout} must be longer than 0 (leave it out for no limit), as in --timeout 30s`);
  return command === 'run' ? ms + RUN_GRACE_MS : ms;
}

/**
 * Settles like `work`, or rejects with a `timeout` error after `ms` (calling `onExpired` first, so
 * the caller can stop what still runs).
 */
export async function within<T>(work: Promise<T>, ms: number, what: string, onExpired: () => void = () => undefined): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onExpired();
      reject(new FlotillaError('timeout', `${what} did not finish within ${seconds(ms)}`));
    }, ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
