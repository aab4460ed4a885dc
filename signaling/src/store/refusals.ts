// The store's refusals, worded once for both backends: each names the limit and the flag that sets it.

import { FlotillaError } from '../../../shared/wire/errors.ts';

/** A version at or below the highest the store ever held for that rid. */
export function conflict(rid: string, stored: number): FlotillaError {
  return new FlotillaError('conflict', `record ${rid} is at version ${stored}; write version ${stored + 1} or higher`);
}

/** The fleet would hold more records than `--store-max-records`. */
export function recordsQuota(max: number): FlotillaError {
  return new FlotillaError('quota', `fleet store quota: ${max} records (--store-max-records)`);
}

/** The fleet would hold more body bytes than `--store-max-bytes`. */
export function bytesQuota(max: number): FlotillaError {
  return new FlotillaError('quota', `fleet store quota: ${max} bytes (--store-max-bytes)`);
}
