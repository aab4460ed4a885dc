// Notification senders: a webhook (a JSON POST in the generic, Slack-compatible or DingTalk
// format, signed with the channel's secret) or a mail over SMTP through nodemailer, each retried
// with exponential backoff. The agent sends them itself, so an alert reaches someone with no
// browser and no CLI running. nodemailer is imported on the first mail only.

import { DEFAULT_RETRY, PermanentFailure as Permanent, signWebhook, withRetries, type Delivery, type RetryPolicy } from '../../../node/webhook.ts';
import type { AgentEmailChannel, AlertRuleDoc, ChannelDoc, WebhookChannel } from '../../../shared/alerts/documents.ts';
import type { Notification } from '../../../shared/alerts/evaluate.ts';
import { nodeHttp } from '../http-client.ts';

/** What a notification says. */
export interface AlertMessage {
  event: Notification;
  rule: AlertRuleDoc;
  host: { id: string; hostname: string };
  value: number | undefined;
  /** When the condition began to hold (firing) or the alert resolved. */
  since: number;
  at: number;
}

// Signing, the retry loop and its policy are shared with the signaling server's offline rules.
export { DEFAULT_RETRY, type Delivery, type RetryPolicy };

/** One line a person reads: `[FIRING] cpu-hot on web-1: cpu = 93.2 (> 80 for 10s)`. */
export function messageText(m: AlertMessage): string {
  const r = m.rule;
  const tag = m.event === 'resolved' ? 'RESOLVED' : m.event === 'repeat' ? 'FIRING (still)' : 'FIRING';
  const value = m.value === undefined ? 'no value' : String(Math.round(m.value * 100) / 100);
  const cond = `${r.op} ${r.threshold}${r.forSec ? ` for ${r.forSec}s` : ''}`;
  return `[${tag}] ${r.name} on ${m.host.hostname}: ${r.metric} = ${value} (${cond}), ${r.severity}${r.summary ? `. ${r.summary}` : ''}`;
}

/** The JSON a generic webhook receives. */
export function genericBody(m: AlertMessage): Record<string, unknown> {
  const r = m.rule;
  return {
    version: 1,
    event: m.event,
    status: m.event === 'resolved' ? 'resolved' : 'firing',
    rule: r.name,
    severity: r.severity,
    labels: r.labels,
    ...(r.summary ? { summary: r.summary } : {}),
    host: m.host,
    metric: r.metric,
    value: m.value ?? null,
    op: r.op,
    threshold: r.threshold,
    forSec: r.forSec,
    since: m.since,
    at: m.at,
    text: messageText(m),
  };
}

/** URL, headers and body of a webhook call (exported for the tests). */
export function webhookRequest(hook: WebhookChannel, m: AlertMessage, now: number): { url: string; headers: Record<string, string>; body: string } {
  const text = messageText(m);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'flotilla-agent', 'x-flotilla-event': m.event };
  const color = m.event === 'resolved' ? 'good' : m.rule.severity === 'critical' ? 'danger' : 'warning';
  const body = JSON.stringify(
    hook.format === 'dingtalk'
      ? { msgtype: 'markdown', markdown: { title: `${m.rule.name} ${m.event}`, text } }
      : hook.format === 'slack'
        ? { text, attachments: [{ color, fallback: text, fields: slackFields(m) }] }
        : genericBody(m),
  );
  // DingTalk's robot signature in the query string; the others in x-flotilla-* headers (node/webhook.ts).
  const signed = signWebhook(hook, body, now);
  return { url: signed.url, headers: { ...headers, ...signed.headers }, body };
}

function slackFields(m: AlertMessage): { title: string; value: string; short: boolean }[] {
  return [
    { title: 'Host', value: m.host.hostname, short: true },
    { title: 'Severity', value: m.rule.severity, short: true },
    ...Object.entries(m.rule.labels).map(([k, v]) => ({ title: k, value: v, short: true })),
  ];
}

async function postWebhook(hook: WebhookChannel, m: AlertMessage, timeoutMs: number): Promise<void> {
  const { url, headers, body } = webhookRequest(hook, m, Date.now());
  // node:http rather than fetch: undici would stay resident in the agent (http-client.ts). Redirects are not followed.
  const answer = await nodeHttp(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
  if (answer.status >= 400 && answer.status < 500 && answer.status !== 408 && answer.status !== 429) throw new Permanent(`HTTP ${answer.status}`);
  if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
  // DingTalk answers 200 with an error code inside.
  if (hook.format === 'dingtalk') {
    const reply = (await answer.json().catch(() => ({}))) as { errcode?: number; errmsg?: string };
    if (reply.errcode !== undefined && reply.errcode !== 0) throw new Error(`DingTalk errcode ${reply.errcode} ${String(reply.errmsg ?? '').slice(0, 200)}`);
  }
}

type Mailer = { sendMail(mail: Record<string, unknown>): Promise<unknown>; close(): void };
type NodemailerModule = { createTransport(options: Record<string, unknown>): Mailer };

/** nodemailer, imported on the first mail (bundled in the one-file agent; a build without it says so). */
async function loadNodemailer(): Promise<NodemailerModule> {
  try {
    const mod = (await import('nodemailer')) as unknown as NodemailerModule & { default?: NodemailerModule };
    return mod.default ?? mod;
  } catch (error) {
    throw new Permanent(`this agent cannot send mail: the package nodemailer is not installed beside it (${(error as Error).message.split('\n')[0]})`);
  }
}

async function sendMail(mail: AgentEmailChannel, m: AlertMessage, timeoutMs: number): Promise<void> {
  const nodemailer = await loadNodemailer();
  const transport = nodemailer.createTransport({
    host: mail.host,
    port: mail.port,
    secure: mail.secure,
    ...(mail.user ? { auth: { user: mail.user, pass: mail.pass ?? '' } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  try {
    const subject = messageText(m).slice(0, 200);
    const text = `${messageText(m)}\n\n${JSON.stringify(genericBody(m), null, 2)}\n`;
    await transport.sendMail({ from: mail.from, to: mail.to, subject, text, headers: { 'X-Flotilla-Event': m.event, 'X-Flotilla-Rule': m.rule.name } });
  } catch (error) {
    const code = (error as { responseCode?: number }).responseCode;
    // 5xx: the server refused for good (an address, a policy); 4xx and network errors may pass later.
    if (code !== undefined && code >= 500) throw new Permanent(`SMTP ${code}: ${(error as Error).message}`);
    throw error;
  } finally {
    transport.close();
  }
}

/** Sends one notification on one channel, retried with backoff; never throws. */
export async function deliver(channel: ChannelDoc, m: AlertMessage, policy: RetryPolicy = DEFAULT_RETRY): Promise<Delivery> {
  const { webhook, email } = channel;
  if (channel.kind === 'webhook' && webhook) return withRetries(() => postWebhook(webhook, m, policy.timeoutMs), policy);
  // `via: server` mail goes through the signaling server (server-mail.ts, chosen by the engine).
  if (channel.kind === 'email' && email && email.via !== 'server') return withRetries(() => sendMail(email, m, policy.timeoutMs), policy);
  return { ok: false, attempts: 1, error: 'the channel has no settings' };
}
