// A rule the alert unit tests share: "disk-full", the root filesystem over 90 % for a minute.

import type { AlertRuleDoc } from '../../../shared/alerts/documents.ts';

/** The disk-full rule, with the fields a test cares about replaced. */
export function diskRule(overrides: Partial<AlertRuleDoc> = {}): AlertRuleDoc {
  return {
    type: 'alert',
    name: 'disk-full',
    target: '*',
    metric: 'fs:/:used_pct',
    op: '>',
    threshold: 90,
    forSec: 60,
    severity: 'critical',
    labels: {},
    repeatSec: 0,
    channels: [],
    enabled: true,
    deleted: false,
    at: 1,
    ...overrides,
  };
}
