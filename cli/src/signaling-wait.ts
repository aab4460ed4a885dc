// Waiting for the signaling server, bounded: a CLI invocation says in one line that the server
// cannot be reached (with its URL and the last failure) instead of retrying in silence.

import { FlotillaError } from '../../shared/wire/errors.ts';
import type { RtcEndpoint } from '../../node/rtc/rtc-endpoint.ts';
import { seconds } from './deadline.ts';

/** Errors made when the server did not answer in time (as opposed to refusing us). */
const outOfReach = new WeakSet<Error>();

/** True when `error` says the signaling server could not be reached in time (not that it refused). */
export function isOutOfReach(error: unknown): boolean {
  return error instanceof Error && outOfReach.has(error);
}

/**
 * Resolves once `endpoint` is registered with the signaling server at `url`; otherwise closes it
 * and rejects with `signaling-failed` naming the URL: after `timeoutMs`, or at once when the
 * server refuses the registration.
 */
export async function whenRegistered(endpoint: RtcEndpoint, url: string, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const last = endpoint.signaling.lastFailure?.replace(/^signaling socket closed \((.*)\)$/, '$1');
      const error = new FlotillaError('signaling-failed', `${url} did not answer within ${seconds(timeoutMs)}${last ? `; last try: ${last}` : ''}`);
      outOfReach.add(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    await Promise.race([endpoint.signaling.whenOpen(), expired]);
  } catch (error) {
    await endpoint.close().catch(() => undefined);
    if (error instanceof FlotillaError && error.code === 'signaling-failed' && !error.detail?.includes(url)) {
      throw new FlotillaError('signaling-failed', `${url}: ${error.detail ?? 'refused'}`);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
