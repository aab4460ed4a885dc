// Each host's connection as the inventory and the host page show it: connecting, connected
// (direct or relayed, with the round-trip time), failed with the reason in one word, or closed.

import { ERROR_MESSAGES, type ErrorCode } from '../../../../shared/wire/errors.ts';
import type { PathInfo } from '../../../../shared/session/transport.ts';

/** Why a connection failed, in the words the UI uses. */
export type FailReason = 'unreachable' | 'handshake refused' | 'version mismatch' | 'failed';

export type ConnectionState =
  | { state: 'connecting'; since: number }
  | { state: 'connected'; since: number; path: PathInfo | undefined }
  | { state: 'failed'; since: number; reason: FailReason; code: ErrorCode; detail: string | undefined }
  | { state: 'closed'; since: number };

const REFUSALS: readonly ErrorCode[] = [
  'handshake-failed',
  'binding-mismatch',
  'id-mismatch',
  'key-mismatch',
  'not-in-fleet',
  'cert-expired',
  'cert-revoked',
  'forbidden',
  'bad-token',
];
const UNREACHABLE: readonly ErrorCode[] = ['unreachable', 'signaling-failed', 'timeout', 'channel-closed', 'id-taken'];

/** The one-word reason for an error code. */
export function failReason(code: ErrorCode): FailReason {
  if (code === 'version-mismatch') return 'version mismatch';
  if (REFUSALS.includes(code)) return 'handshake refused';
  if (UNREACHABLE.includes(code)) return 'unreachable';
  return 'failed';
}

/** "direct", "relayed": how the bytes go. */
export function pathWord(path: PathInfo | undefined): string {
  if (!path) return 'connected';
  return path.relayed ? 'relayed' : 'direct';
}

/** "0.8 ms", "34 ms". */
export function rttText(ms: number | undefined): string {
  if (ms === undefined) return '';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** A short line for the inventory: "direct · 0.8 ms", "connecting…", "unreachable". */
export function connectionSummary(c: ConnectionState | undefined): string {
  if (!c) return '–';
  switch (c.state) {
    case 'connecting':
      return 'connecting…';
    case 'connected':
      return [pathWord(c.path), rttText(c.path?.rttMs)].filter(Boolean).join(' · ');
    case 'failed':
      return c.reason;
    case 'closed':
      return 'closed';
  }
}

/** The sentence for a failure: the reason, Flotilla's words for the code, and the detail. */
export function failureText(c: Extract<ConnectionState, { state: 'failed' }>): string {
  return `${c.reason}: ${ERROR_MESSAGES[c.code]}${c.detail ? ` (${c.detail})` : ''}`;
}
