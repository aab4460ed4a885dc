// Webhook calls of async invocations: a POST of the invocation's JSON, signed like Stripe's
// webhooks (`X-Flotilla-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` keyed
// with the token's webhook secret), so the receiver checks who sent it and when. Tried 3 times
// with backoff (1 s, then 4 s); a 2xx answer is delivery.

import { createHmac } from 'node:crypto';
import { FlotillaError } from '../../../shared/wire/errors.ts';

export const SIGNATURE_HEADER = 'X-Flotilla-Signature';
/** Tries per delivery. */
export const WEBHOOK_TRIES = 3;

/** The header's value for `body` sent at `t` (unix seconds). */
export function signWebhook(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** Checks a webhook URL given to the API: http or https, with a host. */
export function checkWebhookUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FlotillaError('bad-message', 'webhook: not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FlotillaError('bad-message', 'webhook: only http and https URLs');
  return url.href;
}

/** What happened to one delivery. */
export interface Delivery {
  url: string;
  delivered: boolean;
  tries: number;
  /** The last answer's status, or why there was none. */
  last?: string;
}

/** Posts `payload` to `url` signed with `secret`, retrying with backoff; never throws. */
export async function deliverWebhook(
  url: string,
  payload: unknown,
  secret: string,
  options: { tries?: number; backoffMs?: number; timeoutMs?: number; now?: () => number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<Delivery> {
  const tries = options.tries ?? WEBHOOK_TRIES;
  const backoff = options.backoffMs ?? 1000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const body = JSON.stringify(payload);
  let last: string | undefined;
  for (let attempt = 0; attempt < tries; attempt++) {
    if (attempt > 0) await sleep(backoff * 4 ** (attempt - 1));
    // Signed per try: the timestamp says when this copy was sent.
    const t = Math.floor((options.now ?? Date.now)() / 1000);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signWebhook(secret, t, body), 'user-agent': 'flotilla-api' },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      await response.body?.cancel();
      last = `HTTP ${response.status}`;
      if (response.ok) return { url, delivered: true, tries: attempt + 1, last };
    } catch (error) {
      last = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    }
  }
  return { url, delivered: false, tries, ...(last ? { last } : {}) };
}
