import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlotillaError } from '../wire/errors.ts';
import { checkParamValue, jobFromFile, jobToFile, nextRuns, parseJobDoc, parseSchedule, renderCommand, resolveParams, shellQuote, type JobDoc } from './job.ts';

const AT = 1_800_000_000_000;

function job(extra: Record<string, unknown> = {}): JobDoc {
  return jobFromFile(
    { name: 'greet', command: 'printf "%s|" {who}', target: 'tag:role=web', schedule: '*/2 * * * * *', params: [{ name: 'who', required: true }], ...extra },
    AT,
  );
}

function usageOf(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    if (error instanceof FlotillaError) return `${error.code}: ${error.detail}`;
    throw error;
  }
  throw new Error('expected an error');
}

/** Runs a rendered command through a real sh, as the agent does, and returns what it printed. */
function sh(command: string, env: Record<string, string> = {}, cwd?: string): string {
  return execFileSync('sh', ['-c', command], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, ...(cwd ? { cwd } : {}) });
}

describe('job files', () => {
  it('fills the defaults and round-trips through the job file form', () => {
    const j = job();
    expect(j).toMatchObject({
      type: 'job',
      enabled: true,
      deleted: false,
      at: AT,
      policy: { overlap: 'skip', timeoutSec: 3600, splaySec: 0, catchUpSec: 0, retries: 0 },
    });
    expect(jobFromFile(jobToFile(j), AT)).toEqual(j);
    expect(parseJobDoc(JSON.parse(JSON.stringify(j)) as Record<string, unknown>)).toEqual(j);
  });

  it('takes policy fields at the top level too', () => {
    expect(job({ overlap: 'queue', timeoutSec: 5, policy: { splaySec: 3 } }).policy).toMatchObject({ overlap: 'queue', timeoutSec: 5, splaySec: 3 });
  });

  it('names the field that is wrong', () => {
    expect(usageOf(() => jobFromFile({ name: 'x', command: 'true', target: '*' }, AT))).toContain('schedule');
    expect(usageOf(() => job({ name: 'no spaces' }))).toContain('name "no spaces"');
    expect(usageOf(() => job({ frequency: 'daily' }))).toContain('unknown field "frequency"');
    expect(usageOf(() => job({ overlap: 'sometimes' }))).toContain('overlap');
    expect(usageOf(() => job({ timezone: 'Mars/Olympus' }))).toContain('timezone "Mars/Olympus"');
    expect(usageOf(() => job({ params: [{ name: 'n', type: 'enum' }] }))).toContain('parameter n: an enum needs values');
    expect(usageOf(() => job({ params: [{ name: 'n', pattern: '([' }] }))).toContain('parameter n: pattern');
    expect(usageOf(() => job({ params: [{ name: 'n' }, { name: 'n' }] }))).toContain('declared twice');
    expect(usageOf(() => job({ params: [{ name: 'n', type: 'int', default: 'x' }] }))).toContain('parameter n: "x" is not an integer');
  });
});

describe('schedules', () => {
  it('accepts 5, 6 and 7 cron fields, @every, ISO times, once and manual', () => {
    expect(parseSchedule('0 9 * * 1-5')).toEqual({ kind: 'cron', expr: '0 9 * * 1-5' });
    expect(parseSchedule('*/5 * * * * *').kind).toBe('cron');
    expect(parseSchedule('*/5 * * * * * *').kind).toBe('cron');
    expect(parseSchedule('@every 1h30m')).toEqual({ kind: 'every', ms: 5_400_000 });
    expect(parseSchedule('2030-01-02T03:04:05Z')).toEqual({ kind: 'at', time: Date.parse('2030-01-02T03:04:05Z') });
    expect(parseSchedule('once')).toEqual({ kind: 'once' });
    expect(parseSchedule('manual')).toEqual({ kind: 'manual' });
  });

  it('refuses what is not a schedule, saying what', () => {
    expect(usageOf(() => parseSchedule('61 * * * * *'))).toContain('second');
    expect(usageOf(() => parseSchedule('* * *'))).toContain('5 to 7 fields');
    expect(usageOf(() => parseSchedule('@every 500ms'))).toContain('at least 1s');
    expect(usageOf(() => parseSchedule('@every soon'))).toContain('duration');
  });

  it('computes the next runs in the job time zone', () => {
    const from = Date.parse('2030-06-01T12:00:00Z');
    expect(nextRuns(parseSchedule('*/15 * * * * *'), from, 3)).toEqual([from + 15_000, from + 30_000, from + 45_000]);
    // 09:00 in Shanghai (UTC+8) is 01:00 UTC.
    expect(nextRuns(parseSchedule('0 9 * * *'), from, 2, 'Asia/Shanghai').map((t) => new Date(t).toISOString())).toEqual([
      '2030-06-02T01:00:00.000Z',
      '2030-06-03T01:00:00.000Z',
    ]);
    // Only in 2031 (the seventh field is the year).
    expect(new Date(nextRuns(parseSchedule('0 0 0 1 1 * 2031'), from, 1, 'UTC')[0]!).toISOString()).toBe('2031-01-01T00:00:00.000Z');
    expect(nextRuns(parseSchedule('@every 30s'), from + 45_000, 2, undefined, from)).toEqual([from + 60_000, from + 90_000]);
    expect(nextRuns(parseSchedule('once'), from, 3)).toEqual([]);
  });
});

describe('parameters', () => {
  const hostile = [
    '; rm -rf /',
    '$(touch PWNED)',
    '`touch PWNED`',
    "it's",
    'a"b',
    '\\',
    '&& touch PWNED',
    '| touch PWNED',
    '$HOME',
    '*',
    '-rf',
    "'; touch PWNED; '",
  ];

  it('reach the program as literal text, whatever they hold, in every quoting a job may use', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flt-params-'));
    try {
      for (const command of ['printf "%s|" {who}', "printf '%s|' '{who}'", "printf '%s|' x{who}y"]) {
        const j = job({ command });
        for (const value of hostile) {
          const { command: line, env } = renderCommand(j, resolveParams(j, { who: value }));
          const out = sh(line, env, dir);
          expect(out).toBe(command.includes('x{who}y') ? `x${value}y|` : `${value}|`);
          expect(existsSync(join(dir, 'PWNED'))).toBe(false);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are refused where the shell would expand them: double quotes, backticks, here-documents', () => {
    expect(usageOf(() => job({ command: 'echo "{who}"' }))).toContain('{who} inside double quotes');
    expect(usageOf(() => job({ command: 'echo `echo {who}`' }))).toContain('{who} inside backticks');
    expect(usageOf(() => job({ command: 'cat <<EOF\n{who}\nEOF' }))).toContain('here-document');
    expect(usageOf(() => job({ interpreter: 'python3', command: 'print("{who}")' }))).toContain('only shell commands take placeholders');
    // ${who} is a shell variable, not a placeholder; an undeclared {x} is left alone.
    expect(renderCommand(job({ command: 'echo ${who} {x} {who}' }), { who: 'a b' }).command).toBe("echo ${who} {x} 'a b'");
  });

  it('are passed in the environment as well', () => {
    const j = job({ command: 'printf %s "$FLOTILLA_PARAM_WHO"' });
    const { command, env } = renderCommand(j, resolveParams(j, { who: '$(id)' }));
    expect(sh(command, env)).toBe('$(id)');
  });

  it('are checked against their declaration, naming the parameter', () => {
    const j = job({
      params: [
        { name: 'who', required: true, pattern: '[a-z]+' },
        { name: 'n', type: 'int', default: 3 },
        { name: 'force', type: 'bool' },
        { name: 'env', type: 'enum', values: ['prod', 'dev'] },
      ],
    });
    expect(resolveParams(j, { who: 'bob', force: 'yes' })).toEqual({ who: 'bob', n: '3', force: 'true' });
    expect(usageOf(() => resolveParams(j, {}))).toBe('usage: parameter who: required, and no value was given');
    expect(usageOf(() => resolveParams(j, { who: 'Bob1' }))).toContain('parameter who: "Bob1" does not match the pattern [a-z]+');
    expect(usageOf(() => resolveParams(j, { who: 'bob', n: '3; reboot' }))).toContain('parameter n: "3; reboot" is not an integer');
    expect(usageOf(() => resolveParams(j, { who: 'bob', env: 'staging' }))).toContain('parameter env: "staging" is not one of prod, dev');
    expect(usageOf(() => resolveParams(j, { who: 'bob', mode: 'x' }))).toContain('parameter mode: the job declares no such parameter');
    expect(usageOf(() => resolveParams(j, { who: 'a\nb' }))).toContain('parameter who: control characters');
  });

  it('quotes the way a POSIX shell reads it back', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(sh(`printf %s ${shellQuote('a\'b"c$d`e')}`)).toBe('a\'b"c$d`e');
    expect(checkParamValue({ name: 'n', type: 'int', required: false }, 7)).toBe('7');
  });
});
