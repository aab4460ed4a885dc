// Mail addresses and subjects as Flotilla accepts them where a server mails for someone else (a
// `via: server` channel, an offline rule's email, the signaling server's POST /api/mail): one
// plain `local@domain` each, nothing a mail library would read as a second address, a display
// name or another header. Isomorphic: the CLI, the PWA, the agent and the server check the same way.

import { FlotillaError } from '../wire/errors.ts';

/** The body of POST /api/mail: one mail a host or device asks the signaling server to send (docs/alerts.md). */
export interface RelayMail {
  to: string[];
  subject: string;
  text: string;
}

/** The most recipients one server-sent mail may have. */
export const MAX_SERVER_MAIL_RECIPIENTS = 10;
/** Longest subject the relay takes (the agent cuts its subject to this). */
export const MAX_MAIL_SUBJECT = 200;
/** Longest text body the relay takes, in characters. */
export const MAX_MAIL_TEXT = 32_768;

// No quotes, commas, semicolons, angle brackets, spaces or control characters: each of those could
// make one "address" into several, or into a header, once a mail library parses it.
const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** True for a plain `local@domain` address (at most 254 characters, a domain of DNS labels). */
export function isMailAddress(text: string): boolean {
  if (text.length > 254) return false;
  const at = text.lastIndexOf('@');
  if (at < 1 || at > 64) return false;
  const domain = text.slice(at + 1);
  return LOCAL.test(text.slice(0, at)) && domain.length <= 253 && domain.split('.').every((label) => LABEL.test(label));
}

/** The addresses, checked, lower-cased domain, duplicates dropped; `field` names them in the error. */
export function mailRecipients(list: readonly string[], field: string, max = MAX_SERVER_MAIL_RECIPIENTS): string[] {
  if (list.length === 0) throw new FlotillaError('bad-message', `${field}: name at least one address`);
  const out: string[] = [];
  for (const [i, address] of list.entries()) {
    if (!isMailAddress(address))
      throw new FlotillaError('bad-message', `${field}[${i}]: ${JSON.stringify(address.slice(0, 80))} is not a plain address such as oncall@example.com`);
    const at = address.lastIndexOf('@');
    const normal = `${address.slice(0, at)}@${address.slice(at + 1).toLowerCase()}`;
    if (!out.includes(normal)) out.push(normal);
  }
  if (out.length > max) throw new FlotillaError('bad-message', `${field}: ${out.length} addresses, at most ${max}`);
  return out;
}

/** A subject for one header line: control characters (CR and LF above all) become spaces; at most MAX_MAIL_SUBJECT. */
export function mailSubjectLine(text: string): string {
  const line = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').slice(0, MAX_MAIL_SUBJECT);
  return /[\ud800-\udbff]$/.test(line) ? line.slice(0, -1) : line;
}
