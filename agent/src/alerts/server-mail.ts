// The `email` channel with `via: server`: the agent hands the mail to the signaling server's relay
// (POST /api/mail, signaling/src/mail.ts) with its store credential, and the server sends it with
// its own SMTP settings, to the recipients its operator allows. The host then holds no SMTP
// password. Retried with the same backoff as the agent's own mail; a refusal (a recipient not
// allowed, mail off on that server) is final and is the delivery's error in the alert's history.

import { call, type HttpFetch } from '../../../shared/controller/signal-api.ts';
import { authorization, type StoreMember } from '../../../shared/store/client.ts';
import type { ServerEmailChannel } from '../../../shared/alerts/documents.ts';
import { mailSubjectLine, type RelayMail } from '../../../shared/alerts/mail-address.ts';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { DEFAULT_RETRY, PermanentFailure, withRetries, type Delivery, type RetryPolicy } from '../../../node/webhook.ts';
import { genericBody, messageText, type AlertMessage } from './notify.ts';

/** Hands one mail to the server (the mailbox binds the URL and this host's credential). */
export type MailRelay = (mail: RelayMail) => Promise<void>;

/** Server answers a later attempt may get past: a rate limit, an SMTP server or the signaling server unreachable. */
const RETRYABLE = new Set(['rate-limited', 'unreachable', 'signaling-failed', 'timeout', 'internal']);

/** POST /api/mail. Throws FlotillaError with the server's code; PermanentFailure when the server has no relay at all. */
export async function relayMail(signal: string, member: StoreMember, mail: RelayMail, http?: HttpFetch): Promise<void> {
  const answer = await call(
    signal,
    '/api/mail',
    { method: 'POST', headers: { ...(await authorization(member)), 'content-type': 'application/json' }, body: JSON.stringify(mail) },
    http,
  );
  if (!answer) throw new PermanentFailure('this signaling server does not relay mail (it is older than this agent): use an email channel with SMTP settings');
}

/** The mail for an alert: the same subject and text as the agent's own mail (notify.ts). */
export function serverMail(channel: ServerEmailChannel, m: AlertMessage): RelayMail {
  const line = messageText(m);
  return { to: channel.to, subject: mailSubjectLine(line), text: `${line}\n\n${JSON.stringify(genericBody(m), null, 2)}\n` };
}

/** Sends one alert mail through the server, retried with backoff; never throws. */
export async function deliverViaServer(
  channel: ServerEmailChannel,
  m: AlertMessage,
  relay: MailRelay | undefined,
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<Delivery> {
  if (!relay) return { ok: false, attempts: 0, error: 'this agent has no signaling server to send mail through' };
  const mail = serverMail(channel, m);
  return withRetries(async () => {
    try {
      await relay(mail);
    } catch (error) {
      if (error instanceof FlotillaError && !RETRYABLE.has(error.code)) throw new PermanentFailure(error.detail ?? error.message);
      throw error;
    }
  }, policy);
}
