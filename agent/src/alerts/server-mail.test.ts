// An alert mail sent `via: server`: the agent's sender against a real signaling server (started in
// this process) whose --smtp is a real SMTP sink on loopback. Sent mail arrives from the server's
// From; a refusal is final after one attempt and names the address; an SMTP server that answers
// "try later" is tried again with backoff.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { issueHostCert } from '../../../shared/identity/certs.ts';
import type { StoreMember } from '../../../shared/store/client.ts';
import { cleanUp, makeCast, start } from '../../../signaling/src/test-support.ts';
import { startSmtpSink, type SmtpSink } from '../../../e2e/smtp-sink.ts';
import type { AlertMessage } from './notify.ts';
import { deliverViaServer, relayMail, type MailRelay } from './server-mail.ts';
import { diskRule } from './test-support.ts';

const rule = diskRule({ channels: ['mail'], summary: 'Root filesystem\r\nBcc: victim@elsewhere.test' });
const message: AlertMessage = { event: 'firing', rule, host: { id: 'h'.repeat(52), hostname: 'db-1' }, value: 93.4, since: 1000, at: 61_000 };
const fast = { attempts: 3, baseMs: 10, timeoutMs: 5000 };

let sink: SmtpSink;
let agent: StoreMember;

beforeAll(async () => {
  const { fleet, agent: host } = await makeCast();
  const cert = await issueHostCert(fleet.fleetKeys!.privateKey, fleet.fleetId, host.pub, fleet.id);
  agent = { id: host.id, keys: host.keys, pub: host.pub, kind: 'agent', fleetId: fleet.fleetId, fleetPub: fleet.fleetPub, cert };
  sink = await startSmtpSink();
}, 60_000);
afterEach(async () => {
  await cleanUp();
  sink.mails.length = 0;
  sink.busy = false;
});
afterAll(() => sink?.close());

async function relay(): Promise<MailRelay> {
  const { server } = await start({
    mail: { smtp: { host: '127.0.0.1', port: sink.port, secure: false }, from: 'alerts@flotilla.test', allow: ['example.org'] },
  });
  return (mail) => relayMail(server.url, agent, mail);
}

describe('email via: server', () => {
  it("is sent by the server, from its address, with the alert's line as a one-line subject", async () => {
    const d = await deliverViaServer({ via: 'server', to: ['oncall@example.org'] }, message, await relay(), fast);
    expect(d).toEqual({ ok: true, attempts: 1 });
    expect(sink.mails).toHaveLength(1);
    const [got] = sink.mails;
    expect(got).toMatchObject({ from: 'alerts@flotilla.test', rcpt: ['oncall@example.org'] });
    // The summary's CR LF became spaces in the subject: no Bcc header, no second recipient (the body may say anything).
    const headers = got!.raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
    expect(headers).toMatch(/^Subject: \[FIRING\] disk-full on db-1: fs:\/:used_pct = 93\.4 \(> 90 for 60s\), critical\. Root filesystem {2}Bcc:/m);
    expect(headers).not.toMatch(/^Bcc:/m);
    expect(got!.raw).toContain('"rule": "disk-full"');
  });

  it('stops at the first refusal, with the reason in the delivery', async () => {
    const d = await deliverViaServer({ via: 'server', to: ['oncall@elsewhere.test'] }, message, await relay(), fast);
    expect(d).toMatchObject({ ok: false, attempts: 1 });
    expect(d.error).toMatch(/does not mail oncall@elsewhere\.test \(not among its --mail-allow recipients\)/);
    expect(sink.mails).toEqual([]);
  });

  it('tries again while the SMTP server says to try later', async () => {
    sink.busy = true;
    const d = await deliverViaServer({ via: 'server', to: ['oncall@example.org'] }, message, await relay(), fast);
    expect(d).toMatchObject({ ok: false, attempts: 3 });
    expect(d.error).toMatch(/could not take the mail/);
  });

  it('says so when there is no server to send through', async () => {
    expect(await deliverViaServer({ via: 'server', to: ['oncall@example.org'] }, message, undefined, fast)).toEqual({
      ok: false,
      attempts: 0,
      error: 'this agent has no signaling server to send mail through',
    });
  });
});
