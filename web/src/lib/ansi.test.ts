import { describe, expect, it } from 'vitest';
import { hasEscapes, parseAnsi } from './ansi.ts';

const ESC = '\x1b';

describe('parseAnsi', () => {
  it('keeps plain text as one unstyled segment', () => {
    expect(parseAnsi('hello\nworld\n')).toEqual([{ text: 'hello\nworld\n' }]);
    expect(parseAnsi('')).toEqual([]);
  });

  it('colours, bold and reset', () => {
    expect(parseAnsi(`${ESC}[31mred${ESC}[0m plain ${ESC}[1;32mbold green${ESC}[m.`)).toEqual([
      { text: 'red', fg: { index: 1 } },
      { text: ' plain ' },
      { text: 'bold green', fg: { index: 2 }, bold: true },
      { text: '.' },
    ]);
  });

  it('bright, background, default colour and attribute resets', () => {
    expect(parseAnsi(`${ESC}[94;41mA${ESC}[39mB${ESC}[49;4mC${ESC}[24;2mD${ESC}[22mE`)).toEqual([
      { text: 'A', fg: { index: 12 }, bg: { index: 1 } },
      { text: 'B', bg: { index: 1 } },
      { text: 'C', underline: true },
      { text: 'D', dim: true },
      { text: 'E' },
    ]);
  });

  it('256 colours and true colour', () => {
    expect(parseAnsi(`${ESC}[38;5;196mX${ESC}[38;5;3mY${ESC}[48;2;10;20;30mZ`)).toEqual([
      { text: 'X', fg: { rgb: 'rgb(255, 0, 0)' } },
      { text: 'Y', fg: { index: 3 } },
      { text: 'Z', fg: { index: 3 }, bg: { rgb: 'rgb(10, 20, 30)' } },
    ]);
    expect(parseAnsi(`${ESC}[38;5;244mg`)).toEqual([{ text: 'g', fg: { rgb: 'rgb(128, 128, 128)' } }]);
    // Out-of-range values are ignored, not trusted.
    expect(parseAnsi(`${ESC}[38;2;300;0;0mq`)).toEqual([{ text: 'q' }]);
  });

  it('drops other escape sequences and control characters, keeping the text', () => {
    const noisy = `${ESC}[2J${ESC}[1;1H${ESC}]0;title\x07a${ESC}[?25lb\x07c${ESC}(Bd\x00e\tf\r\n`;
    expect(parseAnsi(noisy)).toEqual([{ text: 'abcde\tf\r\n' }]);
  });

  it('leaves markup as text: rendering never interprets it', () => {
    expect(parseAnsi(`${ESC}[31m<img src=x onerror=alert(1)>${ESC}[0m`)).toEqual([{ text: '<img src=x onerror=alert(1)>', fg: { index: 1 } }]);
  });

  it('a sequence cut at the end of a chunk is dropped, not shown as garbage', () => {
    expect(parseAnsi(`ok${ESC}[3`)).toEqual([{ text: 'ok' }]);
    expect(parseAnsi(`ok${ESC}[31mred`)).toEqual([{ text: 'ok' }, { text: 'red', fg: { index: 1 } }]);
    expect(hasEscapes('plain')).toBe(false);
    expect(hasEscapes(`${ESC}[0m`)).toBe(true);
  });
});
