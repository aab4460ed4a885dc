import { describe, expect, it } from 'vitest';
import type { AlertEvent, AlertStateDoc, ChannelDoc, SilenceDoc } from '../../../shared/alerts/documents.ts';
import type { OpenedDoc } from '../../../shared/store/fleet-sync.ts';
import {
  activeAlerts,
  activeSilences,
  alertsFromStore,
  channelTarget,
  endSilence,
  eventText,
  firingCount,
  historyRows,
  newNotices,
  silenceDoc,
} from './alerts-view.ts';

const HOST_A = 'a'.repeat(52);
const HOST_B = 'b'.repeat(52);

function state(host: string, hostname: string, rule: string, over: Partial<AlertStateDoc> = {}, events: AlertEvent[] = []): AlertStateDoc {
  return {
    type: 'alertstate',
    rule,
    host,
    hostname,
    state: 'firing',
    since: 1000,
    value: 3,
    severity: 'warning',
    metric: 'procs',
    installed: true,
    events,
    at: 1000,
    ...over,
  };
}

function opened(payload: OpenedDoc['payload'], signer: Partial<OpenedDoc['signer']>): OpenedDoc {
  return { rid: 'r', version: 1, sig: '', payload, iat: 0, signer: { id: 'd', kind: 'device', encPub: '', ...signer } };
}

describe('alertsFromStore', () => {
  it('keeps a state only from the host it is about, and rules, channels and silences only from devices', () => {
    const mine = state(HOST_A, 'web-1', 'r1');
    const forged = state(HOST_B, 'web-2', 'r1');
    const silence: SilenceDoc = { type: 'silence', id: 's-1', rule: 'r1', until: 5, comment: '', by: 'x', at: 1 };
    const got = alertsFromStore([
      opened(mine, { kind: 'host', id: HOST_A }),
      opened(forged, { kind: 'host', id: HOST_A }),
      opened(silence, { kind: 'device' }),
      opened({ ...silence, id: 's-2' }, { kind: 'host', id: HOST_A }),
    ]);
    expect(got.states).toEqual([mine]);
    expect(got.silences.map((s) => s.id)).toEqual(['s-1']);
  });
});

describe('activeAlerts', () => {
  it('lists firing before pending, critical before warning, the oldest first, and leaves out resolved and uninstalled alerts', () => {
    const list = activeAlerts([
      state(HOST_A, 'a', 'pend', { state: 'pending', severity: 'critical', since: 1 }),
      state(HOST_A, 'a', 'warn-old', { since: 10 }),
      state(HOST_A, 'a', 'crit', { severity: 'critical', since: 50 }),
      state(HOST_A, 'a', 'warn-new', { since: 20 }),
      state(HOST_A, 'a', 'gone', { installed: false }),
      state(HOST_A, 'a', 'ok', { state: 'resolved' }),
    ]);
    expect(list.map((s) => s.rule)).toEqual(['crit', 'warn-old', 'warn-new', 'pend']);
    expect(firingCount(list)).toBe(3);
  });
});

describe('historyRows', () => {
  const states = [
    state(HOST_A, 'web-1', 'procs', {}, [
      { at: 10, kind: 'state', from: 'inactive', to: 'pending' },
      { at: 20, kind: 'state', from: 'pending', to: 'firing', value: 4 },
      { at: 20, kind: 'notify', event: 'firing', channel: 'ops', ok: true },
    ]),
    state(HOST_B, 'db-1', 'disk', {}, [{ at: 15, kind: 'state', from: 'inactive', to: 'firing' }]),
  ];
  it('is newest first, a state change before its notification', () => {
    expect(historyRows(states).map((r) => `${r.at} ${r.hostname} ${eventText(r)}`)).toEqual([
      '20 web-1 pending → firing',
      '20 web-1 firing to ops: sent',
      '15 db-1 inactive → firing',
      '10 web-1 inactive → pending',
    ]);
  });
  it('filters by rule, by hostname or host id prefix, and to state changes', () => {
    expect(historyRows(states, { rule: 'disk' }).map((r) => r.at)).toEqual([15]);
    expect(historyRows(states, { host: 'WEB-1', statesOnly: true }).map((r) => r.at)).toEqual([20, 10]);
    expect(historyRows(states, { host: 'bbbb' }).map((r) => r.rule)).toEqual(['disk']);
    expect(historyRows(states, { host: 'nope' })).toEqual([]);
  });
  it('words a silenced and a failed notification as the CLI does', () => {
    expect(eventText({ at: 1, kind: 'notify', event: 'resolved', silenced: true })).toBe('resolved not sent (silenced)');
    expect(eventText({ at: 1, kind: 'notify', event: 'firing', channel: 'm', ok: false, error: 'refused', attempts: 5 })).toBe(
      'firing to m: failed (refused) after 5 attempts',
    );
  });
});

describe('silences', () => {
  const base = { what: 'rule' as const, rule: 'procs', host: '', hours: 4, comment: ' deploying ' };
  it('makes the document the CLI writes', () => {
    expect(silenceDoc(base, 'phone', 1000, 's-1')).toEqual({
      type: 'silence',
      id: 's-1',
      rule: 'procs',
      until: 1000 + 4 * 3_600_000,
      comment: 'deploying',
      by: 'phone',
      at: 1000,
    });
    expect(silenceDoc({ ...base, what: 'host', host: 'tag:role=db', hours: 0.5 }, 'p', 0, 's-2')).toEqual({
      type: 'silence',
      id: 's-2',
      host: 'tag:role=db',
      until: 1_800_000,
      comment: 'deploying',
      by: 'p',
      at: 0,
    });
  });
  it('refuses a form without a duration, rule or hosts with a sentence', () => {
    expect(() => silenceDoc({ ...base, hours: 0 }, 'p', 0, 's')).toThrow(/how long/);
    expect(() => silenceDoc({ ...base, rule: ' ' }, 'p', 0, 's')).toThrow(/Choose the rule/);
    expect(() => silenceDoc({ ...base, what: 'host' }, 'p', 0, 's')).toThrow(/Name the hosts/);
  });
  it('lists those in force; ending one early makes it no longer in force', () => {
    const s = silenceDoc(base, 'p', 1000, 's-1');
    expect(activeSilences([s, { ...s, id: 'old', until: 999 }], 2000).map((x) => x.id)).toEqual(['s-1']);
    const ended = endSilence(s, 2000);
    expect(ended.until).toBe(2000);
    expect(ended.at).toBeGreaterThan(s.at);
    expect(activeSilences([ended], 2000)).toEqual([]);
  });
});

describe('channelTarget', () => {
  it('never shows a secret or a password', () => {
    const hook: ChannelDoc = {
      type: 'channel',
      name: 'h',
      kind: 'webhook',
      webhook: { url: 'http://x/y', format: 'slack', secret: 'TOPSECRET' },
      deleted: false,
      at: 1,
    };
    const mail: ChannelDoc = {
      type: 'channel',
      name: 'm',
      kind: 'email',
      email: { host: 'smtp', port: 587, secure: false, user: 'u', pass: 'HUNTER2', from: 'a@b', to: ['c@d'] },
      deleted: false,
      at: 1,
    };
    expect(channelTarget(hook)).toBe('slack webhook http://x/y (secret ***)');
    expect(channelTarget(mail)).toBe('mail to c@d via smtp:587 as u (password ***)');
  });
});

describe('newNotices', () => {
  const history = [
    state(HOST_A, 'web-1', 'procs', {}, [
      { at: 100, kind: 'state', from: 'inactive', to: 'pending' },
      { at: 200, kind: 'state', from: 'pending', to: 'firing', value: 4 },
    ]),
  ];
  it('shows nothing at the first start on a device, and remembers the newest change or now', () => {
    expect(newNotices(history, undefined, 150)).toEqual({ notices: [], seen: 200 });
    expect(newNotices([], undefined, 150)).toEqual({ notices: [], seen: 150 });
  });
  it('shows firing and resolved changes newer than the last seen, not pending ones nor old ones', () => {
    const { notices, seen } = newNotices(history, 100, 999);
    expect(seen).toBe(200);
    expect(notices).toEqual([
      { tag: `alert:${HOST_A}:procs`, title: '🔴 procs firing on web-1', body: 'procs = 4 (warning)', at: 200, severity: 'warning', state: 'firing' },
    ]);
    expect(newNotices(history, 200, 999).notices).toEqual([]);
    expect(newNotices(history, 50, 999).notices.map((n) => n.at)).toEqual([200]);
  });
});
