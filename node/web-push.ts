// RFC 8291 encryption of a Web Push message for one subscription (aes128gcm), with the web-push
// library's implementation (loaded on first use: the agent pays for it only when a push channel
// fires). The VAPID signature is the relay's (signaling/src/push.ts), not the sender's.

import type { PushSubscriptionJson } from '../shared/push/subscription.ts';

type WebPush = typeof import('web-push');
let loaded: Promise<WebPush> | undefined;
const load = () => (loaded ??= import('web-push').then((m) => ((m as { default?: WebPush }).default ?? m) as WebPush));

/** The encrypted body for `subscription` (salt, record size, sender key and ciphertext in one). */
export async function encryptPush(subscription: PushSubscriptionJson, plaintext: string | Uint8Array): Promise<Uint8Array> {
  const webPush = await load();
  const { cipherText } = webPush.encrypt(
    subscription.keys.p256dh,
    subscription.keys.auth,
    typeof plaintext === 'string' ? plaintext : Buffer.from(plaintext),
    'aes128gcm',
  );
  return new Uint8Array(cipherText);
}
