// How the agent keeps its revocation list current and acts on it: lists arrive in a device's
// hello, pushed by the signaling server when a fleet stores a new one, and from polling (at
// start, on every signaling reconnect, and every few minutes). Whatever the source, a list is
// verified with the fleet key, kept only if newer, and then every open session of a device it
// revokes is closed: a revoked device keeps nothing it had.

import { verifyRevocationList, type RevocationList } from '../../shared/identity/certs.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { SecureSession } from '../../shared/session/session.ts';
import type { AgentState } from './state.ts';
import type { Logger } from '../../node/log.ts';

/** Where a list came from, for the log. */
export type RevocationSource = 'hello' | 'push' | 'poll';

export interface RevocationWatch {
  /** Remembers an authenticated session of `deviceId`, to close it if the device is revoked. */
  track(session: SecureSession, deviceId: string): void;
  /** Verifies an unverified list (push, poll) with the enrolled fleet key, then applies it. */
  offer(raw: unknown, source: RevocationSource): Promise<void>;
  /** Keeps an already verified list if it is newer, and closes the sessions it revokes. */
  apply(list: RevocationList, source: RevocationSource): Promise<void>;
}

export function createRevocationWatch(state: AgentState, log: Logger): RevocationWatch {
  const sessions = new Map<SecureSession, string>();
  // One list at a time, so two arriving together cannot save an older one last.
  let queue: Promise<void> = Promise.resolve();

  function closeRevoked(list: RevocationList): void {
    for (const [session, deviceId] of sessions) {
      if (!list.body.revoked.includes(deviceId)) continue;
      sessions.delete(session);
      log('warn', 'session-revoked', { device: deviceId.slice(0, 8), version: list.body.version });
      session.close(new FlotillaError('cert-revoked', `revocation list version ${list.body.version}`));
    }
  }

  const apply = (list: RevocationList, source: RevocationSource): Promise<void> => {
    const run = queue.then(async () => {
      const held = state.revocation;
      if (!held || list.body.version > held.body.version) {
        await state.saveRevocation(list);
        log('info', 'revocation-updated', { version: list.body.version, revoked: list.body.revoked.length, source });
      }
      // Also for a list already saved (the hello path saves before the session exists).
      if (state.revocation) closeRevoked(state.revocation);
    });
    queue = run.catch(() => undefined);
    return run;
  };

  return {
    track(session, deviceId) {
      sessions.set(session, deviceId);
      session.onClose(() => sessions.delete(session));
      // A list learned during this session's handshake, by another connection, counts too.
      if (state.revocation?.body.revoked.includes(deviceId)) closeRevoked(state.revocation);
    },
    async offer(raw, source) {
      const enrollment = state.enrollment;
      if (!enrollment?.fleetPub) return; // no fleet key yet: the first device's hello brings one
      const list = await verifyRevocationList(raw, enrollment.fleetPub, enrollment.fleet);
      await apply(list, source);
    },
    apply,
  };
}
