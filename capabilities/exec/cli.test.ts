import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { commandText } from './cli.ts';

describe('commandText', () => {
  it('keeps one argument as a shell command line', () => {
    expect(commandText(['ls | wc -l'])).toBe('ls | wc -l');
  });

  it('quotes several arguments so the host sees exactly those words', () => {
    const text = commandText(['sh', '-c', "echo 'it''s' $HOME; exit 3"]);
    const run = () => execFileSync('/bin/sh', ['-c', `${text}; true`], { encoding: 'utf8', env: { HOME: '/nowhere' } });
    expect(run()).toBe('its /nowhere\n');
    expect(commandText(['printf', '%s|', 'a b', "c'd"])).toBe("printf '%s|' 'a b' 'c'\\''d'");
    expect(execFileSync('/bin/sh', ['-c', commandText(['printf', '%s|', 'a b', "c'd"])], { encoding: 'utf8' })).toBe("a b|c'd|");
  });
});
