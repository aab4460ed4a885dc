// A local SMTP sink for tests (npm smtp-server on loopback): it records each mail with the SMTP
// session it came in (the client's address, the user it authenticated as, the envelope), so a
// test can tell who sent a mail, not only what it says. Optionally it requires a login, refuses
// some recipients with 550 (a permanent refusal) or answers every mail 451 (a temporary one).

import { SMTPServer, type SMTPServerAuthenticationResponse } from 'smtp-server';
import type { AddressInfo } from 'node:net';

/** One mail as the sink got it. */
export interface SunkMail {
  /** The SMTP client's address. */
  remote: string;
  /** The user the client logged in as, if it did. */
  user: string | undefined;
  /** MAIL FROM and RCPT TO. */
  from: string;
  rcpt: string[];
  /** The message as sent: headers and body. */
  raw: string;
}

export interface SmtpSink {
  port: number;
  mails: SunkMail[];
  /** Recipients refused with 550. */
  refuse: Set<string>;
  /** While set, every mail is answered 451 (try again later). */
  busy: boolean;
  close(): Promise<void>;
}

/** Starts a sink on 127.0.0.1; with `login`, only that user and password may send. */
export async function startSmtpSink(login?: { user: string; pass: string }): Promise<SmtpSink> {
  const sink: Omit<SmtpSink, 'port' | 'close'> = { mails: [], refuse: new Set(), busy: false };
  const server = new SMTPServer({
    secure: false,
    disabledCommands: login ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !login,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void) {
      if (login && auth.username === login.user && auth.password === login.pass) callback(null, { user: auth.username });
      else callback(new Error('Invalid username or password'));
    },
    onRcptTo(address, _session, callback) {
      if (sink.refuse.has(address.address)) {
        const error = Object.assign(new Error(`5.1.1 <${address.address}>: no such user here`), { responseCode: 550 });
        callback(error);
      } else callback();
    },
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString()));
      stream.on('end', () => {
        if (sink.busy) return callback(Object.assign(new Error('4.3.0 try again later'), { responseCode: 451 }));
        const from = session.envelope.mailFrom;
        sink.mails.push({
          remote: session.remoteAddress,
          user: typeof session.user === 'string' ? session.user : undefined,
          from: from ? from.address : '',
          rcpt: session.envelope.rcptTo.map((r) => r.address),
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return Object.assign(sink, { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
}
