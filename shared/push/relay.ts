// Sending a Web Push message through the signaling server's relay (signaling/src/push.ts): the
// message is encrypted for the browser's subscription first (RFC 8291, node/web-push.ts on the
// agent), so the server only adds its VAPID signature and forwards ciphertext.

import { FlotillaError } from '../wire/errors.ts';
import { toBase64 } from '../wire/encoding.ts';
import { bool, int } from '../wire/validate.ts';
import type { PushSubscriptionJson } from './subscription.ts';

export type { PushSubscriptionJson };
import { call, type HttpFetch } from '../controller/signal-api.ts';
import { authorization, type StoreMember } from '../store/client.ts';

export interface RelayAnswer {
  /** The push service's HTTP status. */
  status: number;
  accepted: boolean;
  /** The subscription no longer exists (404/410): forget it. */
  gone: boolean;
}

/** Hands an encrypted message to the relay. Errors: bad-message (endpoint not a push service), too-large, rate-limited, unreachable. */
export async function relayPush(
  signal: string,
  member: StoreMember,
  message: { endpoint: string; body: Uint8Array; ttl?: number; urgency?: 'very-low' | 'low' | 'normal' | 'high'; topic?: string },
  http?: HttpFetch,
): Promise<RelayAnswer> {
  const answer = await call(
    signal,
    '/api/push',
    {
      method: 'POST',
      headers: { ...(await authorization(member)), 'content-type': 'application/json' },
      body: JSON.stringify({
        endpoint: message.endpoint,
        payload: toBase64(message.body),
        ...(message.ttl === undefined ? {} : { ttl: message.ttl }),
        ...(message.urgency === undefined ? {} : { urgency: message.urgency }),
        ...(message.topic === undefined ? {} : { topic: message.topic }),
      }),
    },
    http,
  );
  if (!answer) throw new FlotillaError('signaling-failed', 'this signaling server has no Web Push relay (upgrade it)');
  return { status: int(answer, 'status', 0, 999), accepted: bool(answer, 'accepted'), gone: bool(answer, 'gone') };
}
