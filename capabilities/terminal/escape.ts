// The escape sequence of `flotilla shell`, as ssh's: `~` typed at the start of a line is held;
// `~.` then leaves, `~~` sends one `~`, and `~` followed by anything else sends both.

const TILDE = 0x7e;
const DOT = 0x2e;

export class EscapeScanner {
  private atLineStart = true;
  private tilde = false;

  /** The bytes to send for keystrokes `chunk`, and whether they asked to leave. */
  scan(chunk: Uint8Array): { send: Uint8Array; leave: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (this.tilde) {
        this.tilde = false;
        if (b === DOT) return { send: Uint8Array.from(out), leave: true };
        out.push(TILDE);
        if (b === TILDE) {
          this.atLineStart = false;
          continue;
        }
      } else if (this.atLineStart && b === TILDE) {
        this.tilde = true;
        continue;
      }
      out.push(b);
      this.atLineStart = b === 0x0d || b === 0x0a;
    }
    return { send: Uint8Array.from(out), leave: false };
  }
}
