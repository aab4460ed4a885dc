// The alert rule evaluator: a pure state machine from (rule, the state so far, the metric's value
// now, the time) to the next state, the change if there is one, and the notification due. No
// clock, no I/O: the agent calls it on every sample, the unit tests with chosen times.
//
//   inactive ──over──▶ pending ──over for forSec──▶ firing ──under──▶ resolved ──over──▶ pending…
//       ▲                 │ under                     │ over, every repeatSec: repeat
//       └─────────────────┘
//
// forSec 0 goes from inactive (or resolved) straight to firing. A missing value (the series is
// not sampled: an unmounted filesystem, the first sample's CPU) counts as "not over": a firing
// alert resolves, a pending one goes back to inactive, as Prometheus does when a series vanishes.

import type { AlertRuleDoc, AlertState, Comparison } from './documents.ts';

/** Where one rule stands on one host. */
export interface RuleState {
  state: AlertState;
  /** When the current state began (ms). */
  since: number;
  /** When the condition began to hold (pending and firing). */
  activeSince?: number;
  /** When the last firing or repeat notification was due. */
  notifiedAt?: number;
  value?: number;
}

export type Notification = 'firing' | 'repeat' | 'resolved';

export interface Step {
  next: RuleState;
  /** Set when the state changed. */
  change?: { from: AlertState; to: AlertState };
  notify?: Notification;
}

/** The state of a rule never evaluated. */
export function initialState(now: number): RuleState {
  return { state: 'inactive', since: now };
}

/** True when `value` is on the alerting side of the threshold. */
export function breaches(value: number | undefined, op: Comparison, threshold: number): boolean {
  if (value === undefined || !Number.isFinite(value)) return false;
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

type RuleTerms = Pick<AlertRuleDoc, 'op' | 'threshold' | 'forSec' | 'repeatSec'>;

/** One evaluation of a rule at `now` with the metric's current value. */
export function evaluate(rule: RuleTerms, prev: RuleState, value: number | undefined, now: number): Step {
  const over = breaches(value, rule.op, rule.threshold);
  const withValue = (s: RuleState): RuleState => (value === undefined ? withoutValue(s) : { ...s, value });
  const go = (to: AlertState, extra: Partial<RuleState>, notify?: Notification): Step => {
    const next = withValue({ state: to, since: now, ...extra });
    return { next, change: { from: prev.state, to }, ...(notify ? { notify } : {}) };
  };
  switch (prev.state) {
    case 'inactive':
    case 'resolved':
      if (!over) return { next: withValue(prev) };
      if (rule.forSec === 0) return go('firing', { activeSince: now, notifiedAt: now }, 'firing');
      return go('pending', { activeSince: now });
    case 'pending': {
      if (!over) return go('inactive', {});
      const activeSince = prev.activeSince ?? prev.since;
      if (now - activeSince >= rule.forSec * 1000) return go('firing', { activeSince, notifiedAt: now }, 'firing');
      return { next: withValue(prev) };
    }
    case 'firing': {
      if (!over) return go('resolved', {}, 'resolved');
      const last = prev.notifiedAt ?? prev.since;
      if (rule.repeatSec > 0 && now - last >= rule.repeatSec * 1000) return { next: withValue({ ...prev, notifiedAt: now }), notify: 'repeat' };
      return { next: withValue(prev) };
    }
  }
}

function withoutValue(s: RuleState): RuleState {
  const { value: _value, ...rest } = s;
  return rest;
}
