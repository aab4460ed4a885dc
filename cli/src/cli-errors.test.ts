import { describe, it, expect } from 'vitest';
import { parseArgs } from 'node:util';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { errorJson, errorLine, exitStatusOf, runWithDash, usageFromParseError, wantsJson } from './cli-errors.ts';

/** The error node:util parseArgs throws for `argv`, parsed as main.ts does (strict, a few options). */
function parseError(argv: string[]): unknown {
  try {
    parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, timeout: { type: 'string' } } });
  } catch (error) {
    return error;
  }
  throw new Error('parsed');
}

describe('usage errors from the command line', () => {
  it('a run command typed without -- gets the command with -- in its place', () => {
    const argv = ['run', 'web-1', 'ls', '-la'];
    const error = usageFromParseError(parseError(argv), argv)!;
    expect(error.code).toBe('usage');
    expect(errorLine(error)).toBe('usage error: "-l" is not a flotilla option; the command for the hosts goes after --, as in: flotilla run web-1 -- ls -la');
  });

  it('keeps options before the selector and quotes what the shell needs quoted', () => {
    expect(runWithDash(['--timeout', '5s', 'run', 'web-*', 'grep', '-c', 'a b', 'f'])).toBe("flotilla --timeout 5s run 'web-*' -- grep -c 'a b' f");
    expect(runWithDash(['run', 'web-1', '--tmeout', '5s', 'ls'])).toBeUndefined(); // a mistyped option, not a command
    expect(runWithDash(['ping', 'web-1', '-x'])).toBeUndefined();
    expect(runWithDash(['run', 'web-1', 'ls', '--', '-la'])).toBeUndefined();
  });

  it('other parse errors name the option', () => {
    const argv = ['ping', '*', '--bogus'];
    expect(errorLine(usageFromParseError(parseError(argv), argv))).toBe('usage error: unknown option "--bogus"; see flotilla --help');
    const missing = ['run', '*', '--timeout'];
    expect(errorLine(usageFromParseError(parseError(missing), missing))).toBe(
      'usage error: --timeout needs a value, as in --timeout VALUE; see flotilla --help',
    );
    expect(usageFromParseError(new Error('other'), argv)).toBeUndefined();
  });
});

describe('error output', () => {
  it('maps codes to exit statuses', () => {
    expect(exitStatusOf(new FlotillaError('usage', 'x'))).toBe(2);
    expect(exitStatusOf(new FlotillaError('bad-config', 'x'))).toBe(2);
    expect(exitStatusOf(new FlotillaError('signaling-failed', 'x'))).toBe(1);
    expect(exitStatusOf(new FlotillaError('timeout', 'x'))).toBe(1);
    expect(exitStatusOf(new FlotillaError('cancelled'))).toBe(130);
    expect(exitStatusOf(new Error('bug'))).toBe(70);
  });

  it('--json errors are one parseable object with code and message', () => {
    expect(JSON.parse(errorJson(new FlotillaError('usage', 'say "it"')))).toEqual({ error: { code: 'usage', message: 'say "it"' } });
    expect(JSON.parse(errorJson(new FlotillaError('signaling-failed', 'http://x/')))).toEqual({
      error: { code: 'signaling-failed', message: 'The signaling server could not be reached or refused the connection. (http://x/)' },
    });
    expect(JSON.parse(errorJson(new Error('bug')))).toEqual({ error: { code: 'internal', message: 'bug' } });
    expect(wantsJson(['ping', '*', '--json'])).toBe(true);
    expect(wantsJson(['run', '*', '--', 'tool', '--json'])).toBe(false);
  });
});
