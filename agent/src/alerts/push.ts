// The `push` notification channel: an alert becomes a Web Push message to the PWA on every device
// that turned notifications on (its `pushsub` document), also while the app is closed. The agent
// encrypts the message for each subscription (RFC 8291, node/web-push.ts) and hands the ciphertext
// to the signaling server's relay with its store credential; the server adds its VAPID signature
// and forwards it, so it learns the endpoint, the size and the time, never the text.

import { createHash, createHmac } from 'node:crypto';
import type { PushChannel } from '../../../shared/alerts/documents.ts';
import type { PushSubDoc } from '../../../shared/push/subscription.ts';
import type { RelayAnswer } from '../../../shared/push/relay.ts';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import type { Logger } from '../../../node/log.ts';
import { encryptPush } from '../../../node/web-push.ts';
import { readJson, writeJsonAtomic } from '../../../node/files.ts';
import type { KeptDoc } from '../mailbox.ts';
import { DEFAULT_RETRY, type AlertMessage, type Delivery, type RetryPolicy } from './notify.ts';

/** The JSON the service worker shows (web/public/push-sw.js reads these fields, bounded the same way). */
export interface PushMessage {
  title: string;
  body: string;
  /** `<rule>/<host id>`: a newer message about the same alert replaces the notification. */
  tag: string;
  url: string;
  severity: string;
  state: 'firing' | 'resolved';
  at: number;
}

/** The plaintext's bound: a push service takes 4096 bytes, and encryption adds 103 (header, tag, padding delimiter). */
export const MAX_PUSH_MESSAGE_BYTES = 3072;
const TITLE_MAX = 120;
const BODY_MAX = 500;

/** What the relay call takes (Mailbox.relayPush). */
export interface RelayMessage {
  endpoint: string;
  body: Uint8Array;
  ttl?: number;
  urgency?: 'very-low' | 'low' | 'normal' | 'high';
  topic?: string;
}

/** At most `max` UTF-16 units, control characters as spaces, never half a surrogate pair. */
function clip(text: string, max: number): string {
  let out = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  if (out.length > max) {
    out = out.slice(0, max);
    if (/[\ud800-\udbff]$/.test(out)) out = out.slice(0, -1);
  }
  return out;
}

const round = (v: number) => String(Math.round(v * 100) / 100);

/** The message for an alert notification. */
export function pushMessage(m: AlertMessage): PushMessage {
  const r = m.rule;
  const what = m.event === 'resolved' ? 'Resolved' : m.event === 'repeat' ? 'Still firing' : 'Firing';
  const value = m.value === undefined ? 'no value' : round(m.value);
  const condition = `${r.op} ${r.threshold}${r.forSec ? ` for ${r.forSec}s` : ''}`;
  return {
    title: clip(`${what}: ${r.name} on ${m.host.hostname}`, TITLE_MAX),
    body: clip(`${r.metric} = ${value} (${condition}), ${r.severity}${r.summary ? `. ${r.summary}` : ''}`, BODY_MAX),
    tag: `${r.name}/${m.host.id}`,
    url: m.host.id ? `#/hosts/${m.host.id}` : '#/alerts',
    severity: r.severity,
    state: m.event === 'resolved' ? 'resolved' : 'firing',
    at: m.at,
  };
}

/** The message as JSON within MAX_PUSH_MESSAGE_BYTES (the body is shortened if need be). */
export function encodePushMessage(p: PushMessage): string {
  let message = p;
  let json = JSON.stringify(message);
  while (Buffer.byteLength(json) > MAX_PUSH_MESSAGE_BYTES) {
    // Only a long hostname or summary gets here: halve what is longest, keep the rest.
    message =
      message.body.length >= message.title.length
        ? { ...message, body: clip(message.body, message.body.length >> 1) }
        : { ...message, title: clip(message.title, message.title.length >> 1) };
    json = JSON.stringify(message);
  }
  return json;
}

/**
 * A push service's topic (at most 32 of [A-Za-z0-9_-]): one per alert and subscription, so a
 * message not delivered yet (the phone offline) is replaced by the next about the same alert.
 * Keyed with the subscription's auth secret, which the relay and the push service never hold:
 * they see that two messages concern one alert, but cannot test guesses of rule names against it.
 */
export function pushTopic(rule: string, host: string, auth: string): string {
  return createHmac('sha256', auth).update(`${rule}/${host}`).digest('base64url').slice(0, 32);
}

export interface PushSenderOptions {
  /** The `pushsub` documents the mailbox keeps. */
  subscriptions(): KeptDoc<PushSubDoc>[];
  /** Hands one encrypted message to the relay (the mailbox, with this host's store credential). */
  relay?: (message: RelayMessage) => Promise<RelayAnswer>;
  log: Logger;
  /** False for a document whose signer was revoked since it was read. */
  trusted?: (doc: KeptDoc) => boolean;
  /** Where the gone subscriptions are remembered across restarts (`<state-dir>/alerts/push-gone.json`); memory only without. */
  goneFile?: string;
}

export interface PushSender {
  deliver(channel: PushChannel, m: AlertMessage, policy?: RetryPolicy): Promise<Delivery>;
  /** Endpoints (their SHA-256, hex) the push service said are gone (404/410): not tried again. */
  readonly gone: ReadonlySet<string>;
}

/** Gone subscriptions remembered: the newest this many. */
const GONE_MAX = 256;
const endpointKey = (endpoint: string) => createHash('sha256').update(endpoint).digest('hex');

/** A failure for one subscription; `retry` when a later attempt may pass. */
class SendError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

const RETRYABLE = new Set(['rate-limited', 'unreachable', 'signaling-failed', 'timeout']);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export function createPushSender(o: PushSenderOptions): PushSender {
  const gone = new Set<string>();
  let loaded: Promise<void> | undefined;
  let saving: Promise<void> = Promise.resolve();

  /** Reads the gone list once; a damaged file is logged and started afresh (at worst one more 410 per subscription). */
  function load(): Promise<void> {
    loaded ??= o.goneFile
      ? readJson(o.goneFile, 'the gone push subscriptions')
          .then((raw) => {
            const list = raw !== null && typeof raw === 'object' && Array.isArray((raw as { gone?: unknown }).gone) ? (raw as { gone: unknown[] }).gone : [];
            for (const key of list) if (typeof key === 'string' && /^[0-9a-f]{64}$/.test(key)) gone.add(key);
          })
          .catch((error: unknown) => o.log('warn', 'alert-push-gone-unreadable', { error: (error as Error).message }))
      : Promise.resolve();
    return loaded;
  }

  function forget(endpoint: string): void {
    gone.add(endpointKey(endpoint));
    for (const old of [...gone].slice(0, Math.max(0, gone.size - GONE_MAX))) gone.delete(old);
    const file = o.goneFile;
    if (!file) return;
    saving = saving
      .then(() => writeJsonAtomic(file, { v: 1, gone: [...gone] }))
      .catch((error: unknown) => o.log('warn', 'alert-push-gone-unsaved', { error: (error as Error).message }));
  }

  /** The subscriptions a channel reaches: not deleted, written by the device they name, not gone, and among `devices` if listed. */
  function targets(channel: PushChannel): KeptDoc<PushSubDoc>[] {
    return o.subscriptions().filter((d) => {
      const s = d.payload;
      if (s.deleted || s.device !== d.signer.id || gone.has(endpointKey(s.subscription.endpoint))) return false;
      if (o.trusted && !o.trusted(d)) return false;
      return channel.devices.length === 0 || channel.devices.some((want) => want === s.device || want === d.signer.name);
    });
  }

  async function sendOnce(doc: KeptDoc<PushSubDoc>, body: Uint8Array, m: AlertMessage): Promise<'sent' | 'gone'> {
    if (!o.relay) throw new SendError('this agent has no Web Push relay', false);
    let answer: RelayAnswer;
    try {
      answer = await o.relay({
        endpoint: doc.payload.subscription.endpoint,
        body,
        urgency: m.rule.severity === 'critical' ? 'high' : 'normal',
        topic: pushTopic(m.rule.name, m.host.id, doc.payload.subscription.keys.auth),
      });
    } catch (error) {
      const code = error instanceof FlotillaError ? error.code : 'internal';
      const detail = error instanceof FlotillaError ? (error.detail ?? error.message) : String(error);
      // A server without the relay (404) says so as signaling-failed: no later attempt will find one.
      throw new SendError(detail, RETRYABLE.has(code) && !/has no Web Push relay/.test(detail));
    }
    if (answer.accepted) return 'sent';
    if (answer.gone) {
      forget(doc.payload.subscription.endpoint);
      o.log('warn', 'alert-push-gone', {
        device: doc.payload.device.slice(0, 8),
        status: answer.status,
        reason: 'the browser unsubscribed: its subscription is not tried again',
      });
      return 'gone';
    }
    throw new SendError(`the push service answered HTTP ${answer.status}`, answer.status === 429 || answer.status >= 500);
  }

  async function sendTo(
    doc: KeptDoc<PushSubDoc>,
    json: string,
    m: AlertMessage,
    policy: RetryPolicy,
  ): Promise<{ outcome: 'sent' | 'gone' | 'failed'; attempts: number; error?: string }> {
    let body: Uint8Array;
    try {
      body = await encryptPush(doc.payload.subscription, json);
    } catch (error) {
      return { outcome: 'failed', attempts: 0, error: `the subscription's keys are unusable (${(error as Error).message})` };
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return { outcome: await sendOnce(doc, body, m), attempts: attempt };
      } catch (error) {
        const e = error instanceof SendError ? error : new SendError(String(error), false);
        if (!e.retry || attempt >= policy.attempts) return { outcome: 'failed', attempts: attempt, error: e.message.slice(0, 300) };
        await sleep(policy.baseMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5));
      }
    }
  }

  return {
    gone,
    async deliver(channel, m, policy = DEFAULT_RETRY) {
      await load();
      const to = targets(channel);
      if (to.length === 0) {
        const which = channel.devices.length ? ` among ${channel.devices.join(', ').slice(0, 200)}` : '';
        return { ok: false, attempts: 0, error: `no device${which} has turned on alert notifications` };
      }
      const json = encodePushMessage(pushMessage(m));
      const results = await Promise.all(to.map((d) => sendTo(d, json, m, policy)));
      await saving; // a gone subscription is on disk before the delivery is reported
      const attempts = Math.max(...results.map((r) => r.attempts));
      const sent = results.filter((r) => r.outcome === 'sent').length;
      const failed = results.filter((r) => r.outcome === 'failed');
      if (failed.length === 0 && sent > 0) return { ok: true, attempts };
      const error =
        failed.length > 0
          ? `${failed.length} of ${to.length} devices not reached: ${failed[0]!.error ?? ''}`
          : `every subscription (${to.length}) is gone: no device has alert notifications on now`;
      return { ok: false, attempts, error: error.slice(0, 500) };
    },
  };
}
