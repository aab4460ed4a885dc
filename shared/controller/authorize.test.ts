import { describe, it, expect } from 'vitest';
import { roleAllows } from './authorize.ts';

describe('roleAllows', () => {
  it('lets a viewer read but not run, push, fetch or accept hosts', () => {
    for (const type of ['ping', 'facts', 'journal', 'audit'] as const) expect(roleAllows('viewer', type)).toBe(true);
    for (const type of ['exec', 'push.begin', 'fetch', 'cancel', 'tags.set', 'host.cert'] as const) expect(roleAllows('viewer', type)).toBe(false);
  });

  it('lets an operator run work but not accept hosts; an admin does everything', () => {
    expect(roleAllows('operator', 'exec')).toBe(true);
    expect(roleAllows('operator', 'host.cert')).toBe(false);
    expect(roleAllows('admin', 'host.cert')).toBe(true);
  });
});
