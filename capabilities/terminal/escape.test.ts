// `~.` after a newline leaves; elsewhere a tilde is only a tilde.

import { describe, expect, it } from 'vitest';
import { EscapeScanner } from './escape.ts';

const scan = (s: EscapeScanner, text: string) => {
  const { send, leave } = s.scan(Buffer.from(text));
  return { sent: Buffer.from(send).toString(), leave };
};

describe('EscapeScanner', () => {
  it('leaves on ~. at the start of the session and after Enter', () => {
    expect(scan(new EscapeScanner(), '~.')).toEqual({ sent: '', leave: true });
    const s = new EscapeScanner();
    expect(scan(s, 'ls\r')).toEqual({ sent: 'ls\r', leave: false });
    expect(scan(s, '~')).toEqual({ sent: '', leave: false });
    expect(scan(s, '.')).toEqual({ sent: '', leave: true });
  });

  it('sends the bytes before ~. in the same chunk', () => {
    expect(scan(new EscapeScanner(), 'exit\r~.')).toEqual({ sent: 'exit\r', leave: true });
  });

  it('passes a tilde inside a line, ~~ as one tilde, and ~x as both', () => {
    const s = new EscapeScanner();
    expect(scan(s, 'cd ~/x.')).toEqual({ sent: 'cd ~/x.', leave: false });
    expect(scan(s, '\r~~.')).toEqual({ sent: '\r~.', leave: false });
    expect(scan(s, '\n~x')).toEqual({ sent: '\n~x', leave: false });
  });
});
