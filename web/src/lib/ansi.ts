// ANSI colours in command output: SGR sequences (colours, bold, dim, italic, underline, reset)
// become styled segments; every other escape sequence is dropped. Segments are plain text that
// the page renders as text nodes, so nothing in the output is ever parsed as HTML.

/** A colour: one of the 16 named ones (0-15, themed by CSS) or an exact `rgb(…)`. */
export type AnsiColor = { index: number } | { rgb: string };

/** A run of text with one style. */
export interface AnsiSegment {
  text: string;
  fg?: AnsiColor;
  bg?: AnsiColor;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
}

type Style = Omit<AnsiSegment, 'text'>;

/** The xterm 256-colour palette entry `n` (16-255) as rgb(); 0-15 stay named. */
function color256(n: number): AnsiColor | undefined {
  if (!Number.isInteger(n) || n < 0 || n > 255) return undefined;
  if (n < 16) return { index: n };
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return { rgb: `rgb(${v}, ${v}, ${v})` };
  }
  const c = n - 16;
  const level = (x: number) => (x === 0 ? 0 : 55 + x * 40);
  return { rgb: `rgb(${level(Math.floor(c / 36))}, ${level(Math.floor(c / 6) % 6)}, ${level(c % 6)})` };
}

/** `38;5;n` or `38;2;r;g;b` starting at params[i]; returns the colour and how many params it used. */
function extended(params: number[], i: number): { color: AnsiColor | undefined; used: number } {
  const mode = params[i + 1];
  if (mode === 5) return { color: color256(params[i + 2] ?? -1), used: 3 };
  if (mode === 2) {
    const [r, g, b] = [params[i + 2], params[i + 3], params[i + 4]];
    const ok = [r, g, b].every((v) => v !== undefined && v >= 0 && v <= 255);
    return { color: ok ? { rgb: `rgb(${r}, ${g}, ${b})` } : undefined, used: 5 };
  }
  return { color: undefined, used: params.length - i };
}

/** Applies one SGR parameter list to a style (in place). */
function applySgr(style: Style, params: number[]): void {
  if (params.length === 0) params = [0];
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (p === 0) for (const key of Object.keys(style) as (keyof Style)[]) delete style[key];
    else if (p === 1) style.bold = true;
    else if (p === 2) style.dim = true;
    else if (p === 3) style.italic = true;
    else if (p === 4) style.underline = true;
    else if (p === 22) {
      delete style.bold;
      delete style.dim;
    } else if (p === 23) delete style.italic;
    else if (p === 24) delete style.underline;
    else if (p >= 30 && p <= 37) style.fg = { index: p - 30 };
    else if (p >= 90 && p <= 97) style.fg = { index: p - 90 + 8 };
    else if (p === 39) delete style.fg;
    else if (p >= 40 && p <= 47) style.bg = { index: p - 40 };
    else if (p >= 100 && p <= 107) style.bg = { index: p - 100 + 8 };
    else if (p === 49) delete style.bg;
    else if (p === 38 || p === 48) {
      const { color, used } = extended(params, i);
      if (color) style[p === 38 ? 'fg' : 'bg'] = color;
      i += used - 1;
    }
  }
}

// CSI (ESC [ params final, or cut off at the end: the next chunk completes it), OSC (ESC ] … BEL or ESC \), other two-byte escapes, and stray C0
// controls other than tab, newline and carriage return.
const SEQUENCE = /\x1b\[([0-?]*)([ -/]*)([@-~]|$)|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]?|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]/g;

/** Splits output into styled segments; escape sequences other than SGR are removed. */
export function parseAnsi(input: string): AnsiSegment[] {
  const segments: AnsiSegment[] = [];
  const style: Style = {};
  const push = (text: string) => {
    if (!text) return;
    const last = segments.at(-1);
    const { text: _t, ...lastStyle } = last ?? { text: '' };
    if (last && JSON.stringify(lastStyle) === JSON.stringify(style)) last.text += text;
    else segments.push({ text, ...structuredClone(style) });
  };
  let at = 0;
  for (const match of input.matchAll(SEQUENCE)) {
    push(input.slice(at, match.index));
    at = match.index + match[0].length;
    // Only ESC [ … m with plain numeric parameters is a style change.
    if (match[3] === 'm' && match[2] === '' && /^[\d;]*$/.test(match[1] ?? '')) {
      applySgr(
        style,
        (match[1] ?? '')
          .split(';')
          .filter((p, i, all) => p !== '' || all.length > 1)
          .map((p) => (p === '' ? 0 : Number(p))),
      );
    }
  }
  push(input.slice(at));
  return segments;
}

/** True when the text has any escape or stray control character (the fast path skips parsing). */
export function hasEscapes(text: string): boolean {
  return /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text);
}
