// Webhook delivery as Flotilla does it wherever it runs in Node (the signaling server's offline
// rules; the agent's alert channels sign the same way, docs/alerts.md): the signature headers
// (generic and Slack-compatible) or DingTalk's signed query string, a JSON POST that follows no
// redirect and may refuse addresses at connect time, and retries with exponential backoff.

import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';

/** Webhook body formats: Flotilla's own JSON, Slack's incoming webhook, DingTalk's robot. */
export type WebhookFormat = 'generic' | 'slack' | 'dingtalk';
export const WEBHOOK_FORMATS: readonly WebhookFormat[] = ['generic', 'slack', 'dingtalk'];

/** Where a webhook goes and how it is signed. */
export interface WebhookTarget {
  url: string;
  format: WebhookFormat;
  secret?: string | undefined;
}

/** How often and how patiently a delivery is tried. */
export interface RetryPolicy {
  attempts: number;
  /** First wait; doubled after each failure, with ±25 % jitter. */
  baseMs: number;
  timeoutMs: number;
}

/** Five attempts, waiting about 1, 2, 4 and 8 s between them, 10 s each. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 1000, timeoutMs: 10_000 };

/** What came of a delivery. */
export interface Delivery {
  ok: boolean;
  attempts: number;
  error?: string;
}

/** A failure not worth another attempt (a 4xx refusal, an address refused). */
export class PermanentFailure extends Error {}

/**
 * The URL and headers of one signed webhook call. DingTalk: `timestamp` (ms) and `sign`
 * (base64 HMAC-SHA256 of "<ms>\n<secret>") in the query string; the others:
 * `x-flotilla-timestamp` (s) and `x-flotilla-signature: sha256=<hex HMAC of "<s>.<body>">`, so a
 * receiver can check the sender and refuse an old request replayed.
 */
export function signWebhook(target: WebhookTarget, body: string, now: number): { url: string; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  if (!target.secret) return { url: target.url, headers };
  if (target.format === 'dingtalk') {
    const sign = createHmac('sha256', target.secret).update(`${now}\n${target.secret}`).digest('base64');
    return { url: `${target.url}${target.url.includes('?') ? '&' : '?'}timestamp=${now}&sign=${encodeURIComponent(sign)}`, headers };
  }
  const t = String(Math.floor(now / 1000));
  headers['x-flotilla-timestamp'] = t;
  headers['x-flotilla-signature'] = `sha256=${createHmac('sha256', target.secret).update(`${t}.${body}`).digest('hex')}`;
  return { url: target.url, headers };
}

/** True for an address in 127.0.0.0/8, ::1, 0.0.0.0 or ::, or IPv4-mapped loopback. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase().replace(/^\[|\]$/g, '');
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return /^127\./.test(v4) || v4 === '0.0.0.0' || a === '::1' || a === '::' || a === '0:0:0:0:0:0:0:1';
}

/** A DNS lookup that refuses every address `refuse` names, so a name cannot be aimed at them after a check. */
function guardedLookup(refuse: (address: string) => boolean): LookupFunction {
  return ((hostname: string, options: object, callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      const allowed = addresses.filter((a) => !refuse(a.address));
      if (allowed.length === 0) return callback(new PermanentFailure(`${hostname} resolves only to addresses this sender may not reach`), '');
      if ((options as { all?: boolean }).all) callback(null, allowed);
      else callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  }) as LookupFunction;
}

/** Options of one POST: a timeout, and addresses to refuse (checked after DNS, at connect time). */
export interface PostOptions {
  timeoutMs: number;
  refuse?: (address: string) => boolean;
}

/** One JSON POST; resolves with the status and up to 64 KiB of the answer. Redirects are not followed. */
export function postJson(url: string, headers: Record<string, string>, body: string, options: PostOptions): Promise<{ status: number; text: string }> {
  const parsed = new URL(url);
  const literal = parsed.hostname.replace(/^\[|\]$/g, '');
  if (options.refuse?.(literal)) return Promise.reject(new PermanentFailure(`${parsed.hostname} is an address this sender may not reach`));
  const request = parsed.protocol === 'https:' ? httpsRequest : parsed.protocol === 'http:' ? httpRequest : undefined;
  if (!request) return Promise.reject(new PermanentFailure(`${parsed.protocol} is not http: or https:`));
  const requestOptions: RequestOptions = {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers },
    signal: AbortSignal.timeout(options.timeoutMs),
    ...(options.refuse ? { lookup: guardedLookup(options.refuse) } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = request(parsed, requestOptions, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => void (text.length < 65_536 && (text += chunk)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Throws for an answer that is not a success: a 4xx other than 408 and 429 as final. */
export function checkAnswer(status: number): void {
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) throw new PermanentFailure(`HTTP ${status}`);
  if (status < 200 || status >= 300) throw new Error(`HTTP ${status}`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** Runs `attempt` until it succeeds, fails for good or runs out of attempts, waiting with backoff; never throws. */
export async function withRetries(attempt: () => Promise<void>, policy: RetryPolicy = DEFAULT_RETRY): Promise<Delivery> {
  let last = '';
  for (let n = 1; n <= policy.attempts; n++) {
    try {
      await attempt();
      return { ok: true, attempts: n };
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
      if (error instanceof PermanentFailure || n === policy.attempts) return { ok: false, attempts: n, error: last.slice(0, 500) };
      await sleep(policy.baseMs * 2 ** (n - 1) * (0.75 + Math.random() * 0.5));
    }
  }
  return { ok: false, attempts: policy.attempts, error: last.slice(0, 500) };
}
