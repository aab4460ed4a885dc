// The `email` channel's `via: server` form (docs/alerts.md "Mail from the server") and the address
// checks every side shares: only `to` is given, SMTP settings are refused by name, and an address
// a mail library could read as two, or as a header, is refused.

import { describe, expect, it } from 'vitest';
import { parseChannel } from './documents.ts';
import { isMailAddress, mailRecipients, mailSubjectLine } from './mail-address.ts';
import { parseAlertFile } from './rule-file.ts';

const channel = (email: unknown) => parseChannel({ type: 'channel', name: 'mail', kind: 'email', email, deleted: false, at: 1 });

describe('email via: server', () => {
  it('takes only the recipients, from a rule file as from a document', () => {
    expect(channel({ via: 'server', to: ['oncall@example.org'] }).email).toEqual({ via: 'server', to: ['oncall@example.org'] });
    const [doc] = parseAlertFile('kind: channel\nname: oncall\nemail: { via: server, to: oncall@Example.ORG }\n', 5);
    expect(doc).toEqual({ type: 'channel', name: 'oncall', kind: 'email', email: { via: 'server', to: ['oncall@example.org'] }, deleted: false, at: 5 });
  });

  it('refuses SMTP settings and unknown fields, naming the field', () => {
    for (const field of ['host', 'port', 'secure', 'user', 'pass', 'from'])
      expect(() => channel({ via: 'server', to: ['a@example.org'], [field]: field === 'port' ? 25 : 'x' })).toThrow(
        new RegExp(`email\\.${field}: a via: server channel .* leave ${field} out`),
      );
    expect(() => channel({ via: 'server', to: ['a@example.org'], cc: ['b@example.org'] })).toThrow(/email\.cc: not a setting of a via: server channel/);
    expect(() => parseAlertFile('kind: channel\nname: m\nemail: { via: server, host: smtp.example.org, to: [a@example.org] }\n', 1)).toThrow(
      /document 1 \(m\): email\.host: a via: server channel/,
    );
    expect(() => channel({ via: 'carrier-pigeon', to: ['a@example.org'] })).toThrow(/via/);
  });

  it('refuses addresses that are not one plain address, and more than 10', () => {
    expect(() => channel({ via: 'server', to: [] })).toThrow(/email\.to: name at least one address/);
    expect(() => channel({ via: 'server', to: ['a@example.org, b@elsewhere.test'] })).toThrow(/email\.to\[0\]: .* is not a plain address/);
    expect(() => channel({ via: 'server', to: ['ok@example.org', 'a@example.org\nBcc: b@elsewhere.test'] })).toThrow(/email\.to\[1\]/);
    expect(() => channel({ via: 'server', to: Array.from({ length: 11 }, (_, i) => `u${i}@example.org`) })).toThrow(/email\.to: 11 addresses, at most 10/);
  });

  it('leaves the agent-sent form as it was: SMTP settings required, no via written', () => {
    const agent = channel({ host: 'smtp.example.org', port: 587, secure: false, from: 'f@example.org', to: ['a@example.org'] }).email;
    expect(agent).toEqual({ host: 'smtp.example.org', port: 587, secure: false, from: 'f@example.org', to: ['a@example.org'] });
    expect(() => channel({ via: 'agent', port: 587, secure: false, from: 'f@example.org', to: ['a@example.org'] })).toThrow(/host/);
  });
});

describe('mail addresses and subjects', () => {
  it('accepts plain addresses only', () => {
    for (const ok of ['a@b.org', 'first.last+tag@mail.example.co.uk', "o'brien@example.org", 'root@localhost']) expect(isMailAddress(ok), ok).toBe(true);
    for (const bad of [
      '',
      'a',
      '@b.org',
      'a@',
      'a@@b.org',
      'a b@c.org',
      '"a"@b.org',
      'a@b.org>',
      '<a@b.org>',
      'a@b.org,c@d.org',
      'a;b@c.org',
      'a@-b.org',
      'a..b@c.org',
      'a@b..org',
    ])
      expect(isMailAddress(bad), bad).toBe(false);
    expect(isMailAddress(`${'a'.repeat(65)}@b.org`)).toBe(false);
  });

  it('drops duplicates, lower-casing the domain only', () => {
    expect(mailRecipients(['Ops@Example.ORG', 'Ops@example.org', 'ops@example.org'], 'to')).toEqual(['Ops@example.org', 'ops@example.org']);
  });

  it('makes a subject one header line', () => {
    expect(mailSubjectLine('[FIRING] x\r\nBcc: v@elsewhere.test')).toBe('[FIRING] x  Bcc: v@elsewhere.test');
    expect(mailSubjectLine('x'.repeat(300))).toHaveLength(200);
    expect(mailSubjectLine(`${'x'.repeat(199)}😀`)).toHaveLength(199);
  });
});
