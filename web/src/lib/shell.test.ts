import { describe, expect, it } from 'vitest';
import { scriptCommand, shellQuote, splitWords } from './shell.ts';

describe('splitWords', () => {
  it('splits on blanks and honours quotes and backslashes', () => {
    expect(splitWords(`  a "b c" 'd "e"' f\\ g "h\\"i" ''  `)).toEqual(['a', 'b c', 'd "e"', 'f g', 'h"i', '']);
    expect(splitWords('')).toEqual([]);
  });

  it('refuses an unclosed quote', () => {
    expect(() => splitWords(`a 'b`)).toThrow(/single quote/);
  });
});

describe('scriptCommand', () => {
  it('runs plain scripts in sh -s with quoted arguments', () => {
    expect(scriptCommand('echo $1', ['one', "it's two"])).toBe(`sh -s -- one 'it'\\''s two'`);
    expect(shellQuote('$(rm -rf /)')).toBe(`'$(rm -rf /)'`);
  });

  it('runs #! scripts from a private temporary file', () => {
    expect(scriptCommand('#!/usr/bin/env python3\nprint(1)', ['x'])).toMatch(
      /^f=\$\(mktemp\) && cat > "\$f" && chmod 700 "\$f" && \{ "\$f" x; s=\$\?; rm -f "\$f"; exit \$s; \}$/,
    );
  });
});
