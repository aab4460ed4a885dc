// The PWA terminal's keystroke echo measure, shared by terminal-echo.mjs (loopback) and
// terminal-nat.mjs (the NAT lab): run in the page with page.evaluate, so it must stay
// self-contained (Playwright sends its source, not its closure).

/** Characters typed before the line is cleared (Ctrl-U), so it never wraps. */
export const LINE = 40;

/** In the page: types `count` characters one at a time, each after the previous one's echo; ms per key. */
export async function typeAndTime({ count, line }) {
  const term = document.querySelector('[data-testid="terminal"]').xterm;
  const buffer = () => term.buffer.active;
  const settle = () =>
    new Promise((resolve) => {
      let timer = setTimeout(done, 150);
      const sub = term.onWriteParsed(() => {
        clearTimeout(timer);
        timer = setTimeout(done, 150);
      });
      function done() {
        sub.dispose();
        resolve();
      }
    });
  const times = [];
  for (let i = 0; i < count; i++) {
    if (i % line === 0) {
      term.input('\x15', true); // Ctrl-U: an empty line again
      await settle();
    }
    const x = buffer().cursorX;
    const ch = String.fromCharCode(97 + (i % 26));
    const t0 = performance.now();
    await new Promise((resolve) => {
      const sub = term.onWriteParsed(() => {
        if (buffer().cursorX === x + 1) {
          sub.dispose();
          resolve();
        }
      });
      term.input(ch, true);
    });
    times.push(performance.now() - t0);
  }
  term.input('\x15', true);
  return times;
}
