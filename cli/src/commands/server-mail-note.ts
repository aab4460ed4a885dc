// After `flotilla alerts save`: a channel with `email: { via: server }` is sent by the signaling
// server, which mails only when its operator turned mail on (--smtp, --mail-from, --mail-allow).
// Asks the server (GET /api/mail) and says so now, rather than in the alert's history later.

import { call } from '../../../shared/controller/signal-api.ts';
import type { ChannelDoc } from '../../../shared/alerts/documents.ts';

/** A warning line when the server will not send these channels' mail; undefined when it will (or cannot be asked). */
export async function serverMailNote(signal: string, channels: ChannelDoc[]): Promise<string | undefined> {
  const names = channels.filter((c) => c.email?.via === 'server').map((c) => c.name);
  if (names.length === 0) return undefined;
  const which = `channel${names.length > 1 ? 's' : ''} ${names.join(', ')}`;
  let answer: Awaited<ReturnType<typeof call>>;
  try {
    answer = await call(signal, '/api/mail');
  } catch {
    // The save itself went through the store; an unreachable server is reported by the commands that need it.
    return undefined;
  }
  if (!answer) return `Note: ${signal} does not send mail (it is older than this CLI): ${which} will fail until it is upgraded and mail is turned on.`;
  if (answer['enabled'] === true) return undefined;
  const reason = typeof answer['reason'] === 'string' ? answer['reason'].slice(0, 200) : 'mail is off there';
  return `Note: ${reason}; ${which} will fail until it is turned on (docs/alerts.md, "Mail from the server").`;
}
