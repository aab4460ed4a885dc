import { describe, expect, it } from 'vitest';
import { breaches, evaluate, initialState, type RuleState, type Step } from './evaluate.ts';
import { parseAlertRule, parseAlertState, parseChannel, parseSilence, silenceApplies } from './documents.ts';

const rule = { op: '>' as const, threshold: 80, forSec: 10, repeatSec: 0 };

/** Feeds values one second apart from t = 0; returns every step. */
function run(terms: typeof rule, values: (number | undefined)[], start: RuleState = initialState(0)): Step[] {
  const steps: Step[] = [];
  let state = start;
  values.forEach((v, i) => {
    const step = evaluate(terms, state, v, i * 1000);
    steps.push(step);
    state = step.next;
  });
  return steps;
}

describe('alert state machine', () => {
  it('goes pending on the first value over the threshold and fires once it held for forSec', () => {
    const steps = run(rule, [10, 90, ...Array<number>(10).fill(95)]);
    expect(steps[0]!.change).toBeUndefined();
    expect(steps[1]!.change).toEqual({ from: 'inactive', to: 'pending' });
    // Pending from t = 1 s: 10 s later (t = 11 s) it fires, not before.
    expect(steps.slice(2, 11).every((s) => s.next.state === 'pending' && !s.notify)).toBe(true);
    expect(steps[11]).toMatchObject({
      change: { from: 'pending', to: 'firing' },
      notify: 'firing',
      next: { state: 'firing', since: 11_000, activeSince: 1000 },
    });
  });

  it('goes back to inactive, without a notification, when the value drops while pending', () => {
    const steps = run(rule, [90, 90, 50]);
    expect(steps[2]).toMatchObject({ change: { from: 'pending', to: 'inactive' } });
    expect(steps.some((s) => s.notify)).toBe(false);
  });

  it('resolves (notified) when a firing value drops, and goes pending again on the next crossing', () => {
    const fast = { ...rule, forSec: 0 };
    const steps = run(fast, [90, 90, 70, 70, 85]);
    expect(steps[0]).toMatchObject({ change: { from: 'inactive', to: 'firing' }, notify: 'firing' });
    expect(steps[1]!.notify).toBeUndefined();
    expect(steps[2]).toMatchObject({ change: { from: 'firing', to: 'resolved' }, notify: 'resolved' });
    expect(steps[3]!.change).toBeUndefined();
    expect(steps[4]).toMatchObject({ change: { from: 'resolved', to: 'firing' }, notify: 'firing' });
  });

  it('repeats the notification every repeatSec while firing, and never with repeatSec 0', () => {
    const repeating = run({ ...rule, forSec: 0, repeatSec: 3 }, Array<number>(10).fill(99));
    expect(repeating.map((s) => s.notify ?? '-').join(' ')).toBe('firing - - repeat - - repeat - - repeat');
    expect(run({ ...rule, forSec: 0 }, Array<number>(10).fill(99)).filter((s) => s.notify)).toHaveLength(1);
  });

  it('treats a missing value as under the threshold: a firing alert resolves', () => {
    const steps = run({ ...rule, forSec: 0 }, [99, undefined]);
    expect(steps[1]).toMatchObject({ change: { from: 'firing', to: 'resolved' }, notify: 'resolved' });
    expect(steps[1]!.next.value).toBeUndefined();
  });

  it('compares with each operator, never true for NaN', () => {
    expect([breaches(80, '>', 80), breaches(80, '>=', 80), breaches(5, '<', 10), breaches(10, '<=', 10), breaches(NaN, '<', 10)]).toEqual([
      false,
      true,
      true,
      true,
      false,
    ]);
  });

  it('keeps the pending start across evaluations (a restart resumes the count from the saved state)', () => {
    const saved: RuleState = { state: 'pending', since: 0, activeSince: 0, value: 90 };
    expect(evaluate(rule, saved, 91, 9_999).next.state).toBe('pending');
    expect(evaluate(rule, saved, 91, 10_000)).toMatchObject({ notify: 'firing', next: { state: 'firing' } });
  });
});

describe('alert documents', () => {
  const base = { type: 'alert', name: 'cpu-hot', target: '*', metric: 'cpu', op: '>', threshold: 80, forSec: 10, severity: 'warning' };
  const full = { ...base, labels: {}, repeatSec: 0, channels: ['ops'], enabled: true, deleted: false, at: 1 };

  it('reads a rule and refuses a bad comparison, a string threshold and a bad name, naming the field', () => {
    expect(parseAlertRule(full)).toMatchObject({ name: 'cpu-hot', threshold: 80 });
    expect(() => parseAlertRule({ ...full, op: '=>' })).toThrow(/op/);
    expect(() => parseAlertRule({ ...full, threshold: '80' })).toThrow(/threshold: expected a number/);
    expect(() => parseAlertRule({ ...full, name: '../x' })).toThrow(/not a name/);
  });

  it('reads channels of both kinds and refuses a webhook that is not http(s) and mail with no recipient', () => {
    const hook = { type: 'channel', name: 'ops', kind: 'webhook', webhook: { url: 'http://127.0.0.1:1/x', format: 'slack' }, deleted: false, at: 1 };
    expect(parseChannel(hook).webhook?.format).toBe('slack');
    expect(() => parseChannel({ ...hook, webhook: { url: 'file:///etc/passwd', format: 'generic' } })).toThrow(/http/);
    const mail = { type: 'channel', name: 'm', kind: 'email', email: { host: 'h', port: 25, secure: false, from: 'a@b', to: [] }, deleted: false, at: 1 };
    expect(() => parseChannel(mail)).toThrow(/at least one address/);
  });

  it('applies a silence to its rule and hosts until it ends', () => {
    const s = parseSilence({ type: 'silence', id: 's1', rule: 'cpu-hot', host: 'web-*', until: 100, comment: '', by: 'laptop', at: 1 });
    const web = (sel: string) => sel === 'web-*';
    expect(silenceApplies(s, 'cpu-hot', 99, web)).toBe(true);
    expect(silenceApplies(s, 'cpu-hot', 100, web)).toBe(false);
    expect(silenceApplies(s, 'disk-full', 99, web)).toBe(false);
    expect(silenceApplies(s, 'cpu-hot', 99, () => false)).toBe(false);
    expect(() => parseSilence({ type: 'silence', id: 's2', until: 1, comment: '', by: '', at: 1 })).toThrow(/names a rule, hosts, or both/);
  });

  it('bounds the events a state document carries', () => {
    const doc = {
      type: 'alertstate',
      rule: 'r',
      host: 'a'.repeat(52),
      hostname: 'h',
      state: 'firing',
      since: 1,
      severity: 'info',
      metric: 'cpu',
      installed: true,
      at: 1,
    };
    expect(parseAlertState({ ...doc, events: [{ at: 1, kind: 'state', from: 'pending', to: 'firing', value: 91.5 }] }).events[0]!.value).toBe(91.5);
    expect(() => parseAlertState({ ...doc, events: Array(21).fill({ at: 1, kind: 'state' }) })).toThrow(/at most 20/);
  });
});

describe('alert files', () => {
  it('reads a YAML rule with defaults and a channel, and names the document and field of a mistake', async () => {
    const { parseAlertFile } = await import('./rule-file.ts');
    const docs = parseAlertFile(
      "name: cpu-hot\nmetric: cpu\nwhen: '> 80'\nfor: 10s\nrepeat: 1h\nchannels: [ops]\n---\nkind: channel\nname: ops\nwebhook: { url: 'http://127.0.0.1:9/h', format: slack }\n",
      5,
    );
    expect(docs[0]).toMatchObject({
      type: 'alert',
      target: '*',
      op: '>',
      threshold: 80,
      forSec: 10,
      repeatSec: 3600,
      severity: 'warning',
      enabled: true,
      at: 5,
    });
    expect(docs[1]).toMatchObject({ type: 'channel', kind: 'webhook', webhook: { format: 'slack' } });
    expect(() => parseAlertFile("name: x\nmetric: cpu\nwhen: 'over 80'\n", 1)).toThrow(/document 1 \(x\): when: "over 80" is not a condition/);
    expect(() => parseAlertFile('name: x\nmetric: cpu\nwhen: "> 1"\nfor: soon\n', 1)).toThrow(/for: "soon" is not a duration/);
    expect(() => parseAlertFile('name: [\n', 1)).toThrow(/not valid YAML/);
  });

  it('reads a push channel for every subscribed device or the devices it names, and refuses two kinds at once', async () => {
    const { parseAlertFile } = await import('./rule-file.ts');
    const channel = (body: string) => parseAlertFile(`kind: channel\nname: phones\n${body}\n`, 1)[0];
    expect(channel('push: true')).toEqual({ type: 'channel', name: 'phones', kind: 'push', push: { devices: [] }, deleted: false, at: 1 });
    expect(channel('push: {}')).toMatchObject({ kind: 'push', push: { devices: [] } });
    expect(channel('push: { devices: [alice-phone] }')).toMatchObject({ kind: 'push', push: { devices: ['alice-phone'] } });
    expect(channel('push: [alice-phone, bob]')).toMatchObject({ push: { devices: ['alice-phone', 'bob'] } });
    expect(() => channel("push: true\nwebhook: 'http://127.0.0.1:9/h'")).toThrow(/one of webhook:, email: or push:/);
    expect(() => channel('push: { devices: alice }')).toThrow(/document 1 \(phones\): devices: expected a list/);
    expect(() => channel('push: 3')).toThrow(/push: write it as push: true/);
    expect(() => parseChannel({ type: 'channel', name: 'p', kind: 'push', push: { devices: [1] }, deleted: false, at: 1 })).toThrow(/devices\[0\]/);
  });
});
