import { describe, expect, it } from 'vitest';
import type { ChannelDoc } from '../../../shared/alerts/documents.ts';
import {
  channelFormOf,
  checkChannel,
  checkRule,
  copyName,
  deletedRule,
  durationText,
  emptyChannelForm,
  emptyRuleForm,
  metricChoices,
  metricLabel,
  metricUnit,
  ruleFormOf,
  ruleSentence,
  type RuleForm,
} from './alerts-editor.ts';

const AT = 1_764_770_000_000;
const ctx = { ruleExists: (n: string) => n === 'taken', channels: ['hook', 'mail'] };

function form(over: Partial<RuleForm> = {}): RuleForm {
  return { ...emptyRuleForm(), name: 'disk-full', metric: 'fs:/:used_pct', threshold: '90', for: '1m', channels: ['hook'], ...over };
}

describe('the rule form', () => {
  it('makes the document the agents read, durations in seconds', () => {
    const r = checkRule(form({ repeat: '1h', severity: 'critical', labels: 'team=storage, tier = 1', summary: ' Root over 90 % ' }), ctx, AT);
    expect(r).toEqual({
      ok: true,
      doc: {
        type: 'alert',
        name: 'disk-full',
        target: '*',
        metric: 'fs:/:used_pct',
        op: '>',
        threshold: 90,
        forSec: 60,
        severity: 'critical',
        labels: { team: 'storage', tier: '1' },
        repeatSec: 3600,
        channels: ['hook'],
        summary: 'Root over 90 %',
        enabled: true,
        deleted: false,
        at: AT,
      },
    });
  });

  it('reads "90 %", "90s", "1.5m" and "0" (once)', () => {
    const r = checkRule(form({ threshold: '90 %', for: '90s', repeat: '0' }), ctx, AT);
    expect(r.ok && [r.doc.threshold, r.doc.forSec, r.doc.repeatSec]).toEqual([90, 90, 0]);
    const r2 = checkRule(form({ for: '1.5m' }), ctx, AT);
    expect(r2.ok && r2.doc.forSec).toBe(90);
  });

  it('puts every wrong field’s sentence beside that field, all at once', () => {
    const r = checkRule(
      form({ name: 'bad name', target: 'web-1, web-2', metric: '', threshold: 'abc', for: '5 parsecs', repeat: '9d', channels: ['gone'], labels: 'x' }),
      ctx,
      AT,
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(Object.keys(r.errors).sort()).toEqual(['channels', 'for', 'labels', 'metric', 'name', 'repeat', 'target', 'threshold']);
    expect(r.errors.threshold).toBe('Expected a number.');
    expect(r.errors.for).toBe('"5 parsecs" is not a duration: write it like 30s, 5m, 1h or 1d.');
    expect(r.errors.repeat).toBe('Out of range 0..604800.');
    expect(r.errors.channels).toContain('gone does not exist');
    expect(r.errors.target).toMatch(/comma/);
  });

  it('refuses a new rule under a name in use, but an edit keeps its own name whatever the field says', () => {
    const taken = checkRule(form({ name: 'taken' }), ctx, AT);
    expect(!taken.ok && taken.errors.name).toContain('A rule of that name exists');
    const edit = checkRule(form({ name: 'renamed' }), { ...ctx, editing: 'taken' }, AT);
    expect(edit.ok && edit.doc.name).toBe('taken');
  });

  it('round-trips a saved rule, and names a duplicate that is free', () => {
    const r = checkRule(form({ for: '90s', repeat: '2h', labels: 'a=b' }), ctx, AT);
    if (!r.ok) throw new Error('invalid');
    const back = ruleFormOf(r.doc);
    expect(back).toMatchObject({ name: 'disk-full', threshold: '90', for: '90s', repeat: '2h', labels: 'a=b' });
    expect(checkRule(back, { ...ctx, editing: 'disk-full' }, AT)).toEqual(r);
    expect(copyName('disk-full', (n) => n === 'disk-full-copy')).toBe('disk-full-copy-2');
    expect(ruleFormOf(r.doc, 'disk-full-copy').name).toBe('disk-full-copy');
    const gone = deletedRule(r.doc, AT - 5);
    expect(gone).toMatchObject({ deleted: true, at: AT + 1 });
  });

  it('writes durations back in their shortest exact word', () => {
    expect([0, 5, 60, 90, 3600, 86_400, 7 * 86_400].map(durationText)).toEqual(['0', '5s', '1m', '90s', '1h', '1d', '7d']);
  });
});

describe('the channel form', () => {
  const none = { channelExists: (n: string) => n === 'hook' };

  it('makes webhook, email and push channels', () => {
    const hook = checkChannel({ ...emptyChannelForm('webhook'), name: 'ops', url: 'https://hooks.example/x', format: 'slack', secret: 's3' }, none, AT);
    expect(hook).toEqual({
      ok: true,
      doc: {
        type: 'channel',
        name: 'ops',
        kind: 'webhook',
        webhook: { url: 'https://hooks.example/x', format: 'slack', secret: 's3' },
        deleted: false,
        at: AT,
      },
    });
    const mail = checkChannel(
      { ...emptyChannelForm('email'), name: 'mail2', host: 'smtp.example', port: '465', secure: true, from: 'f@x', to: 'a@x, b@x\nc@x' },
      none,
      AT,
    );
    expect(mail.ok && mail.doc.email).toEqual({ host: 'smtp.example', port: 465, secure: true, from: 'f@x', to: ['a@x', 'b@x', 'c@x'] });
    // Mail sent by the signaling server names only the recipients; SMTP fields left in the form are not written.
    const relayed = checkChannel({ ...emptyChannelForm('email'), name: 'mail3', via: 'server', host: 'left.over', to: 'oncall@x' }, none, AT);
    expect(relayed.ok && relayed.doc.email).toEqual({ via: 'server', to: ['oncall@x'] });
    expect(channelFormOf((relayed as { doc: ChannelDoc }).doc)).toMatchObject({ via: 'server', to: 'oncall@x', host: '' });
    const noOne = checkChannel({ ...emptyChannelForm('email'), name: 'mail4', via: 'server', to: '' }, none, AT);
    expect(!noOne.ok && Object.keys(noOne.errors)).toEqual(['to']);
    const push = checkChannel({ ...emptyChannelForm('push'), name: 'phones', devices: '' }, none, AT);
    expect(push.ok && push.doc.push).toEqual({ devices: [] });
  });

  it('names each wrong field', () => {
    const r = checkChannel({ ...emptyChannelForm('email'), name: 'hook', host: '', port: 'x', from: 'f@x', to: '' }, none, AT);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(Object.keys(r.errors).sort()).toEqual(['host', 'name', 'port', 'to']);
    expect(r.errors.to).toBe('Name at least one address.');
    const w = checkChannel({ ...emptyChannelForm('webhook'), name: 'w', url: 'ftp://x' }, none, AT);
    expect(!w.ok && w.errors.url).toBe('Expected an http:// or https:// URL.');
  });

  it('never puts a secret back into the form, keeps it when left empty, replaces or removes it on request', () => {
    const saved: ChannelDoc = {
      type: 'channel',
      name: 'ops',
      kind: 'webhook',
      webhook: { url: 'https://h.example/x', format: 'generic', secret: 'TOPSECRET' },
      deleted: false,
      at: AT - 1,
    };
    const f = channelFormOf(saved);
    expect(JSON.stringify(f)).not.toContain('TOPSECRET');
    const kept = checkChannel({ ...f, url: 'https://h.example/y' }, { ...none, previous: saved }, AT);
    expect(kept.ok && kept.doc.webhook).toEqual({ url: 'https://h.example/y', format: 'generic', secret: 'TOPSECRET' });
    const replaced = checkChannel({ ...f, secret: 'new' }, { ...none, previous: saved }, AT);
    expect(replaced.ok && replaced.doc.webhook?.secret).toBe('new');
    const removed = checkChannel({ ...f, clearSecret: true }, { ...none, previous: saved }, AT);
    expect(removed.ok && removed.doc.webhook).toEqual({ url: 'https://h.example/x', format: 'generic' });
    const mail: ChannelDoc = {
      type: 'channel',
      name: 'm',
      kind: 'email',
      email: { host: 'h', port: 587, secure: false, user: 'u', pass: 'PASSWORD', from: 'f@x', to: ['t@x'] },
      deleted: false,
      at: AT - 1,
    };
    expect(JSON.stringify(channelFormOf(mail))).not.toContain('PASSWORD');
    const m = checkChannel(channelFormOf(mail), { ...none, previous: mail }, AT);
    expect(m.ok && (m.doc.email as { pass?: string } | undefined)?.pass).toBe('PASSWORD');
  });
});

describe('metrics for rules', () => {
  it('offers the percents rules use from a host’s sample, with names for people, CPU and memory first', () => {
    const series = [
      'cpu',
      'core:0',
      'core:1',
      'load1',
      'mem.total',
      'mem.used',
      'mem.available',
      'swap.total',
      'swap.used',
      'fs:/:used',
      'fs:/:size',
      'fs:/:inodes_used',
      'fs:/:inodes',
      'fs:/mnt/x:used',
      'fs:/mnt/x:size',
      'net:eth0:rx_Bps',
      'procs',
      'cpu.cores',
    ];
    const choices = metricChoices(series);
    expect(choices.map((c) => c.name)).toEqual([
      'cpu',
      'mem.used_pct',
      'fs:/:used_pct',
      'fs:/mnt/x:used_pct',
      'swap.used_pct',
      'fs:/:inodes_used_pct',
      'load1',
      'procs',
      'net:eth0:rx_Bps',
      'core:0',
      'core:1',
    ]);
    expect(choices.slice(0, 3).map((c) => c.label)).toEqual(['CPU busy %', 'Memory used %', 'Disk used % on /']);
    expect(metricChoices(undefined).map((c) => c.name)).toContain('fs:/:used_pct');
    // A first sample has no CPU figure yet; CPU is offered all the same.
    expect(metricChoices(['load1', 'mem.total']).map((c) => c.name)).toEqual(['cpu', 'mem.used_pct', 'load1']);
  });

  it('knows each metric’s unit and says a rule in a line', () => {
    expect(['cpu', 'fs:/:used_pct', 'load1', 'temp:cpu', 'net:eth0:tx_Bps', 'mem.used'].map(metricUnit)).toEqual(['%', '%', '', '°C', 'B/s', 'bytes']);
    expect(metricLabel('something.new')).toBe('something.new');
    expect(ruleSentence({ metric: 'fs:/:used_pct', op: '>', threshold: '90', for: '1m' })).toBe('Disk used % on / > 90 % for 1m');
    expect(ruleSentence({ metric: 'load1', op: '>=', threshold: '4', for: '0' })).toBe('Load average, 1 min >= 4, at once');
  });
});
