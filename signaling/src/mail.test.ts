// Mail from the signaling server against a real SMTP sink on loopback (e2e/smtp-sink.ts, npm
// smtp-server): a fleet's host posts a mail, the server logs in with its --smtp user and sends it
// from --mail-from; every refusal (allowlist, count, header injection, size, rate, mail off, no
// credential) is one sentence and sends nothing; SMTP refusing for good and SMTP away are told
// apart for the sender. nodemailer is the real one.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { issueHostCert } from '../../shared/identity/certs.ts';
import { authorization, type StoreMember } from '../../shared/store/client.ts';
import { startSmtpSink, type SmtpSink } from '../../e2e/smtp-sink.ts';
import { api, cleanUp, makeCast, start, type Started } from './test-support.ts';
import { parseMailAllow, parseSmtpUrl, type MailOptions } from './mail.ts';
import { parseSignalArgs } from './main.ts';

const LOGIN = { user: 'relay', pass: 'p@ss:w/rd' };
let sink: SmtpSink;
let agent: StoreMember;

beforeAll(async () => {
  const { fleet, agent: host } = await makeCast();
  const cert = await issueHostCert(fleet.fleetKeys!.privateKey, fleet.fleetId, host.pub, fleet.id);
  agent = { id: host.id, keys: host.keys, pub: host.pub, kind: 'agent', fleetId: fleet.fleetId, fleetPub: fleet.fleetPub, cert };
  sink = await startSmtpSink(LOGIN);
}, 60_000);
afterEach(async () => {
  await cleanUp();
  sink.mails.length = 0;
  sink.refuse.clear();
  sink.busy = false;
});
afterAll(() => sink?.close());

function mailOptions(extra: Partial<MailOptions> = {}): MailOptions {
  return {
    smtp: { host: '127.0.0.1', port: sink.port, secure: false, ...LOGIN },
    from: 'alerts@flotilla.test',
    allow: ['example.org', 'boss@corp.test'],
    timeoutMs: 3000,
    ...extra,
  };
}

async function post(s: Started, body: unknown, auth = true): Promise<{ status: number; body: Record<string, unknown> }> {
  return api(s.server, '/api/mail', {
    method: 'POST',
    headers: { ...(auth ? await authorization(agent) : {}), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const mail = { to: ['oncall@example.org'], subject: '[FIRING] disk-full on db-1', text: 'fs:/:used_pct = 93\n' };
const errorOf = (r: { body: Record<string, unknown> }) => r.body['error'] as { code: string; message: string };

describe('--smtp, --mail-from, --mail-allow', () => {
  it('parses smtp:// and smtps:// URLs with encoded credentials and default ports', () => {
    expect(parseSmtpUrl('smtp://relay:p%40ss%3Aw%2Frd@mail.example.org')).toEqual({ host: 'mail.example.org', port: 587, secure: false, ...LOGIN });
    expect(parseSmtpUrl('smtps://mail.example.org')).toEqual({ host: 'mail.example.org', port: 465, secure: true });
    expect(parseSmtpUrl('smtp://127.0.0.1:2525')).toMatchObject({ host: '127.0.0.1', port: 2525, secure: false });
    expect(() => parseSmtpUrl('https://mail.example.org')).toThrow(/must start with smtp:\/\/ .* or smtps:\/\//);
    expect(() => parseSmtpUrl('mail.example.org:25')).toThrow(/--smtp/);
    expect(() => parseSmtpUrl('smtp://mail.example.org/inbox')).toThrow(/no path/);
  });

  it('reads the allowlist as domains and addresses, and refuses anything else', () => {
    expect(parseMailAllow(['Example.ORG, oncall@Corp.test', 'example.org'])).toEqual(['example.org', 'oncall@corp.test']);
    expect(() => parseMailAllow(['*'])).toThrow(/domains and addresses/);
    expect(() => parseMailAllow(['a@b.org,"x y"@c.org'])).toThrow(/"x y"@c.org/);
  });

  it('takes the SMTP URL from FLOTILLA_SMTP and wants --mail-from with it', () => {
    const args = parseSignalArgs(['--mail-from', 'a@b.org', '--mail-allow', 'b.org'], { FLOTILLA_SMTP: 'smtp://u:secret@mx.b.org:25' });
    expect(args.help === false && args.options.mail).toEqual({
      smtp: { host: 'mx.b.org', port: 25, secure: false, user: 'u', pass: 'secret' },
      from: 'a@b.org',
      allow: ['b.org'],
    });
    expect(() => parseSignalArgs(['--smtp', 'smtp://mx.b.org'], {})).toThrow(/--smtp needs --mail-from/);
    expect(() => parseSignalArgs(['--mail-allow', 'b.org'], {})).toThrow(/need --smtp/);
    expect(() => parseSignalArgs(['--smtp', 'smtp://mx.b.org', '--mail-from', 'Ops <a@b.org>'], {})).toThrow(/plain address/);
  });

  it('makes flotilla-signal exit 2 with one sentence on a bad --smtp', () => {
    const run = spawnSync(
      process.execPath,
      [fileURLToPath(new URL('../../bin/flotilla-signal.js', import.meta.url)), '--smtp', 'http://mx.b.org', '--mail-from', 'a@b.org'],
      {
        encoding: 'utf8',
        timeout: 15_000,
      },
    );
    expect(run.stderr).toMatch(/^flotilla-signal: .*--smtp must start with smtp:\/\/ .*\n/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.status).toBe(2);
  });
});

describe('POST /api/mail', () => {
  it("sends a host's mail with the server's login and From, and logs who and whom but not what", async () => {
    const s = await start({ mail: mailOptions() });
    expect((await api(s.server, '/api/mail')).body).toEqual({ enabled: true, maxRecipients: 10 });
    const r = await post(s, { ...mail, to: ['oncall@example.org', 'Boss@CORP.test', 'oncall@example.org'] });
    expect(r).toEqual({ status: 200, body: { sent: true, to: ['oncall@example.org', 'Boss@corp.test'] } });
    expect(sink.mails).toHaveLength(1);
    const [got] = sink.mails;
    expect(got).toMatchObject({ user: 'relay', from: 'alerts@flotilla.test', rcpt: ['oncall@example.org', 'Boss@corp.test'] });
    expect(got!.raw).toMatch(/^Subject: \[FIRING\] disk-full on db-1\r?$/m);
    const unfolded = got!.raw.replace(/\r?\n[ \t]+/g, ' ');
    expect(unfolded).toMatch(new RegExp(`^X-Flotilla-Sender: agent ${agent.id}\\r?$`, 'm'));
    expect(got!.raw).toContain('fs:/:used_pct = 93');
    const sent = s.logs.find((l) => l.includes('"event":"mail.sent"'));
    expect(sent).toMatch(/"to":\["oncall@example.org","Boss@corp.test"\]/);
    expect(s.logs.join('\n')).not.toMatch(/disk-full|used_pct/);
  });

  it('refuses a recipient outside the allowlist, naming it, and sends nothing', async () => {
    const s = await start({ mail: mailOptions() });
    const r = await post(s, { ...mail, to: ['oncall@example.org', 'someone@elsewhere.test'] });
    expect(r.status).toBe(403);
    expect(errorOf(r)).toEqual({ code: 'forbidden', message: 'to: this server does not mail someone@elsewhere.test (not among its --mail-allow recipients)' });
    // A subdomain is another domain; an allowed address does not open its domain.
    expect((await post(s, { ...mail, to: ['a@sub.example.org'] })).status).toBe(403);
    expect((await post(s, { ...mail, to: ['other@corp.test'] })).status).toBe(403);
    expect(sink.mails).toEqual([]);
    expect(s.logs.some((l) => l.includes('"event":"mail.refused"') && l.includes('someone@elsewhere.test'))).toBe(true);
  });

  it('refuses header injection, more than 10 recipients, oversize and unknown fields, each in one sentence', async () => {
    const s = await start({ mail: mailOptions() });
    const cases: [unknown, number, RegExp][] = [
      [{ ...mail, subject: 'hi\r\nBcc: victim@elsewhere.test' }, 400, /subject: one line, without control characters/],
      [{ ...mail, subject: 'hi\nthere' }, 400, /subject: one line/],
      [{ ...mail, to: ['oncall@example.org, victim@elsewhere.test'] }, 400, /to\[0\]: .* is not a plain address/],
      [{ ...mail, to: ['oncall@example.org\r\nBcc: victim@elsewhere.test'] }, 400, /to\[0\]: .* is not a plain address/],
      [{ ...mail, to: ['Ops <oncall@example.org>'] }, 400, /is not a plain address/],
      [{ ...mail, to: Array.from({ length: 11 }, (_, i) => `u${i}@example.org`) }, 400, /to: 11 addresses, at most 10/],
      [{ ...mail, to: [] }, 400, /to: name at least one address/],
      [{ ...mail, subject: 'x'.repeat(201) }, 400, /subject: longer than 200/],
      [{ ...mail, text: 'x'.repeat(32_769) }, 400, /text: longer than 32768/],
      [{ ...mail, bcc: ['victim@elsewhere.test'] }, 400, /bcc: not a field of a mail/],
      [{ to: mail.to, text: mail.text }, 400, /subject: expected a string/],
    ];
    for (const [body, status, message] of cases) {
      const r = await post(s, body);
      expect(r.status, JSON.stringify(body).slice(0, 120)).toBe(status);
      expect(errorOf(r).message).toMatch(message);
      expect(errorOf(r).message).not.toMatch(/\n\s+at /);
    }
    const huge = await post(s, { ...mail, text: 'x'.repeat(70_000) });
    expect(huge.status).toBe(413);
    expect(sink.mails).toEqual([]);
  });

  it('refuses a caller without a fleet credential', async () => {
    const s = await start({ mail: mailOptions() });
    const r = await post(s, mail, false);
    expect(r.status).toBe(401);
    expect(errorOf(r).code).toBe('bad-token');
    expect(sink.mails).toEqual([]);
  });

  it('limits mail per fleet', async () => {
    const s = await start({ mail: mailOptions({ perFleetPerMinute: 2 }) });
    expect((await post(s, mail)).status).toBe(200);
    expect((await post(s, mail)).status).toBe(200);
    const third = await post(s, mail);
    expect(third.status).toBe(429);
    expect(errorOf(third)).toMatchObject({ code: 'rate-limited', message: expect.stringMatching(/2 per minute per fleet/) as unknown });
    expect(sink.mails).toHaveLength(2);
  });

  it('says mail is off, and refuses it, without --smtp or without --mail-allow', async () => {
    const none = await start();
    expect((await api(none.server, '/api/mail')).body).toEqual({ enabled: false, reason: expect.stringMatching(/has not set --smtp/) as unknown });
    const r = await post(none, mail);
    expect(r.status).toBe(501);
    expect(errorOf(r)).toMatchObject({ code: 'unsupported', message: expect.stringMatching(/sends no mail/) as unknown });
    const nobody = await start({ mail: mailOptions({ allow: [] }) });
    expect((await api(nobody.server, '/api/mail')).body).toMatchObject({ enabled: false, reason: expect.stringMatching(/--mail-allow/) as unknown });
    expect((await post(nobody, mail)).status).toBe(501);
    expect(sink.mails).toEqual([]);
  });

  it('answers 502 when SMTP fails, saying whether it was for good (550) or may pass later', async () => {
    const s = await start({ mail: mailOptions() });
    sink.refuse.add('gone@example.org');
    const refused = await post(s, { ...mail, to: ['gone@example.org'] });
    expect(refused.status).toBe(502);
    expect(errorOf(refused)).toMatchObject({ code: 'policy-refused', message: expect.stringMatching(/refused the mail \(550\)/) as unknown });
    sink.busy = true;
    const busy = await post(s, mail);
    expect(busy.status).toBe(502);
    expect(errorOf(busy).code).toBe('unreachable');

    const wrong = await start({ mail: mailOptions({ smtp: { host: '127.0.0.1', port: sink.port, secure: false, user: 'relay', pass: 'wrong' } }) });
    expect((await post(wrong, mail)).status).toBe(502);
    const away = await start({ mail: mailOptions({ smtp: { host: '127.0.0.1', port: 1, secure: false } }) });
    const down = await post(away, mail);
    expect(down.status).toBe(502);
    expect(errorOf(down)).toMatchObject({ code: 'unreachable', message: expect.stringMatching(/127\.0\.0\.1:1/) as unknown });
    expect(sink.mails).toEqual([]);
  });
});
