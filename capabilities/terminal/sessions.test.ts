// Who a terminal runs as: the policy's runAs is a ceiling, another user needs root, unknown
// users are refused in a sentence; and the login environment carries nothing of the agent's.

import { describe, expect, it } from 'vitest';
import { loginEnv, lookupAccount, ownAccount, runAsAccount } from './sessions.ts';

describe('runAsAccount', () => {
  const me = ownAccount();

  it("is the agent's own user by default", () => {
    expect(runAsAccount(undefined, undefined)).toEqual(me);
    expect(runAsAccount(me.name, undefined)).toEqual(me);
  });

  it('refuses a user other than the policy runAs', () => {
    expect(() => runAsAccount('nobody', 'operator-x')).toThrow(/only as operator-x/);
  });

  it('refuses a user that does not exist', () => {
    if (process.getuid?.() !== 0) return; // not root: refused earlier, for that reason
    expect(() => runAsAccount('no-such-user-flotilla', undefined)).toThrow(/no such user "no-such-user-flotilla"/);
  });

  it("finds another user's account when root, and refuses one without a login shell", () => {
    if (process.getuid?.() !== 0) expect(() => runAsAccount('nobody', undefined)).toThrow(/needs the agent to run as root/);
    else {
      expect(lookupAccount('nobody')).toMatchObject({ name: 'nobody', shell: expect.stringMatching(/nologin|false/) as string });
      expect(() => runAsAccount('nobody', undefined)).toThrow(/nobody has no login shell/);
    }
  });

  it('does not look up names that are not user names', () => {
    expect(lookupAccount('a b')).toBeUndefined();
    expect(lookupAccount('-x')).toBeUndefined();
  });

  it("gives a login environment without the agent's variables", () => {
    process.env['FLOTILLA_SECRET_TEST'] = 'x';
    const env = loginEnv({ account: me, command: undefined, term: 'xterm', cols: 80, rows: 24 });
    delete process.env['FLOTILLA_SECRET_TEST'];
    expect(Object.keys(env).sort()).toEqual(['HOME', 'LANG', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER']);
    expect(env['TERM']).toBe('xterm');
  });
});
