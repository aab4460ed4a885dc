// The keys a phone keyboard lacks, as the bytes a terminal sends for them, and the sticky Ctrl
// modifier applied to the next key typed.

/** A key of the phone row. */
export type PhoneKey = 'esc' | 'tab' | 'up' | 'down' | 'left' | 'right' | 'pipe' | 'tilde' | 'dash' | 'slash';

/** The row's keys in order, with their labels (Ctrl is separate: it is a modifier). */
export const PHONE_KEYS: readonly { key: PhoneKey; label: string; title: string }[] = [
  { key: 'esc', label: 'Esc', title: 'Escape' },
  { key: 'tab', label: 'Tab', title: 'Tab' },
  { key: 'left', label: '←', title: 'Left arrow' },
  { key: 'up', label: '↑', title: 'Up arrow' },
  { key: 'down', label: '↓', title: 'Down arrow' },
  { key: 'right', label: '→', title: 'Right arrow' },
  { key: 'pipe', label: '|', title: 'Vertical bar' },
  { key: 'tilde', label: '~', title: 'Tilde' },
  { key: 'dash', label: '-', title: 'Dash' },
  { key: 'slash', label: '/', title: 'Slash' },
];

const ARROW = { up: 'A', down: 'B', right: 'C', left: 'D' } as const;

/**
 * The bytes for a phone key. Arrows follow the terminal's cursor-key mode: full-screen programs
 * (vi, less, top) switch to application mode and expect ESC O A instead of ESC [ A.
 */
export function keySequence(key: PhoneKey, applicationCursor: boolean, ctrl = false): string {
  switch (key) {
    case 'esc':
      return '\x1b';
    case 'tab':
      return '\t';
    case 'pipe':
      return '|';
    case 'tilde':
      return '~';
    case 'dash':
      return '-';
    case 'slash':
      return ctrl ? '\x1f' : '/';
    default:
      // Ctrl+arrow is xterm's CSI 1;5 form (word left/right in readline), whatever the mode.
      if (ctrl) return `\x1b[1;5${ARROW[key]}`;
      return `${applicationCursor ? '\x1bO' : '\x1b['}${ARROW[key]}`;
  }
}

/**
 * What Ctrl plus `data` sends: a letter or one of @[\]^_? becomes its control code (Ctrl-C is
 * \x03, Ctrl-[ is Esc, Ctrl-? is DEL), a space becomes NUL; anything else (several characters
 * from a paste or an IME, a digit) is sent as it is.
 */
export function withCtrl(data: string): string {
  if (data.length !== 1) return data;
  const c = data.toUpperCase().charCodeAt(0);
  if (c === 0x20) return '\x00';
  if (c === 0x3f) return '\x7f';
  if (c >= 0x40 && c <= 0x5f) return String.fromCharCode(c & 0x1f);
  return data;
}
