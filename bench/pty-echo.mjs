// Local terminals for the terminal benches (bench/terminal.mjs, bench/terminal-nat.mjs): a pty
// (node-pty) running a command whose recent output is kept and can be waited on, and the
// keystroke echo measure typed into it.
import { createRequire } from 'node:module';
import { sleep } from './lib.mjs';

const pty = createRequire(import.meta.url)('@lydell/node-pty');

/**
 * A local terminal (100×30) running `file args…`: `out` holds its recent output (the last 64 KiB
 * or so), `bytes` counts all of it, `waitFor(pattern, ms)` resolves once the output matches.
 */
export function ptyTerminal(file, args, { env, cwd, waitMs = 30_000 } = {}) {
  const term = pty.spawn(file, args, { name: 'xterm-256color', cols: 100, rows: 30, env, encoding: null, ...(cwd ? { cwd } : {}) });
  const t = { term, out: Buffer.alloc(0), bytes: 0, listeners: new Set() };
  t.exited = new Promise((resolve) => term.onExit((e) => resolve(e.exitCode)));
  term.onData((d) => {
    t.bytes += d.length;
    t.out = t.out.length > 65536 ? Buffer.from(d) : Buffer.concat([t.out, d]);
    for (const l of t.listeners) l();
  });
  t.waitFor = (pattern, ms = waitMs) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (!pattern.test(t.out.toString('latin1'))) return;
        t.listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        t.listeners.delete(check);
        reject(new Error(`timed out waiting for ${pattern}; saw: ${JSON.stringify(t.out.toString('latin1').slice(-400))}`));
      }, ms);
      t.listeners.add(check);
      check();
    });
  return t;
}

/**
 * Keystroke echo latency: types one character at a time into `t`, where a remote `cat` in cooked
 * mode echoes it, and times each until the echo shows; ms per key, the first ten (warm-up) left out.
 */
export async function echoLatency(t, count) {
  const samples = [];
  const alphabet = 'abcdefghijklmnopqrstuvwxyz';
  for (let i = 0; i < count + 10; i++) {
    if (i % 60 === 59) {
      t.term.write('\r'); // a newline now and then keeps cat's line short
      await sleep(20);
    }
    const ch = alphabet[i % alphabet.length];
    t.out = Buffer.alloc(0);
    const seen = new Promise((resolve) => {
      const check = () => {
        if (!t.out.includes(ch)) return;
        t.listeners.delete(check);
        resolve();
      };
      t.listeners.add(check);
    });
    const t0 = performance.now();
    t.term.write(ch);
    await seen;
    if (i >= 10) samples.push(performance.now() - t0);
    await sleep(10);
  }
  return samples;
}
