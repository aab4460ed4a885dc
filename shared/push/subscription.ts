// A browser's Web Push subscription, and the fleet document that carries it to the agents
// (docs/alerts.md, "Web Push"). Plain data and validators: no network, no platform imports.

import { FlotillaError } from '../wire/errors.ts';
import { bool, int, isObj, obj, str, type Obj } from '../wire/validate.ts';

/** A browser's push subscription as `PushSubscription.toJSON()` gives it. */
export interface PushSubscriptionJson {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** Validates a subscription (from a device's document or a test). */
export function parseSubscription(raw: unknown): PushSubscriptionJson {
  const o = obj(raw, 'subscription');
  const keys = isObj(o['keys']) ? (o['keys'] as Obj) : {};
  const b64url = (key: string, min: number, max: number) => {
    const v = str(keys, key, max, min);
    if (!/^[A-Za-z0-9_-]+=*$/.test(v)) throw new FlotillaError('bad-message', `keys.${key}: expected base64url`);
    return v;
  };
  return { endpoint: str(o, 'endpoint', 2048, 8), keys: { p256dh: b64url('p256dh', 80, 100), auth: b64url('auth', 16, 32) } };
}

/**
 * A device's push subscription in the fleet store (PLACEMENT.pushsub: a fleet `doc`, named by
 * the device id), so that agents whose alert rules name a `push` channel can reach the PWA on
 * that device while it is closed. The keys let a fleet member encrypt for that browser; the
 * record is sealed to the fleet, so the signaling server never sees them.
 */
export interface PushSubDoc {
  type: 'pushsub';
  /** The device whose browser subscribed (its id): the record's name too. */
  device: string;
  subscription: PushSubscriptionJson;
  /** Where it is (`Firefox on a phone`), for lists. */
  label?: string;
  /** Unsubscribed: agents stop sending. */
  deleted: boolean;
  at: number;
}

export function parsePushSubDoc(o: Obj): PushSubDoc {
  const label = o['label'] === undefined ? undefined : str(o, 'label', 128);
  return {
    type: 'pushsub',
    device: str(o, 'device', 52, 52),
    subscription: parseSubscription(o['subscription']),
    ...(label === undefined ? {} : { label }),
    deleted: bool(o, 'deleted'),
    at: int(o, 'at'),
  };
}
