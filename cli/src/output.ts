// Terminal output: tables, per-host line prefixes, a progress bar, colours when on a TTY.

import { currentScope } from './control/scope.ts';
import { createBoundedLinePrinter } from './bounded-output.ts';

const useColor = process.stdout.isTTY === true && !process.env['NO_COLOR'];
const PALETTE = [36, 35, 33, 32, 34, 96, 95, 93, 92, 94];

/** Wraps text in an ANSI colour when writing to a terminal. */
export function color(code: number, text: string): string {
  return (currentScope()?.color ?? useColor) ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/** Colour for a result status. */
export function statusColor(status: string): string {
  const code =
    status === 'ok' || status === 'online' || status === 'accepted'
      ? 32
      : status === 'pending' || status === 'cancelled' || status === 'queued'
        ? 33
        : status === 'offline'
          ? 90
          : 31;
  return color(code, status);
}

/** Formats rows as an aligned table with a header. */
export function table(header: string[], rows: string[][]): string {
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths = header.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c)))).join('  ');
  return [color(1, line(header)), ...rows.map(line)].join('\n');
}

/** Human duration. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** "3m ago" style. */
export function ago(ts: number, now = Date.now()): string {
  if (!ts) return '-';
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/**
 * Splits each host's stream into lines and prints them prefixed by the host name, keeping at
 * most one line piece per host and stream (bounded-output.ts); `write` and `flush` resolve once
 * `write` has taken the text (pass a drainingWriter to wait for stdout).
 */
export function createLinePrinter(write: (text: string) => void | Promise<void> = (t) => void process.stdout.write(t)) {
  const colors = new Map<string, number>();
  const prefix = (host: string, stream: 'stdout' | 'stderr') => {
    if (!colors.has(host)) colors.set(host, PALETTE[colors.size % PALETTE.length]!);
    return color(colors.get(host)!, host) + (stream === 'stderr' ? color(31, ' !') : '') + ' | ';
  };
  return createBoundedLinePrinter(write, prefix);
}

/** Draws a progress bar on stderr (only when stderr is a terminal). */
export function drawProgress(label: string, done: number, total: number): void {
  const width = 30;
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const bar = '#'.repeat(Math.round(fraction * width)).padEnd(width, '.');
  process.stderr.write(`\r${label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${(done / 1048576).toFixed(1)}/${(total / 1048576).toFixed(1)} MiB`);
}

/**
 * A single-line progress display on stderr (only when stderr is a terminal). Inside the control
 * process the figures go to the client, which draws the bar on its own terminal.
 */
export function createProgress(total: number, label: string) {
  const scope = currentScope();
  if (scope) {
    let last = 0;
    return {
      update(done: number) {
        const now = Date.now();
        if (now - last < 100 && done < total) return;
        last = now;
        scope.progress(label, done, total, false);
      },
      done() {
        scope.progress(label, total, total, true);
      },
    };
  }
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return {
    update(done: number) {
      const now = Date.now();
      if (!tty || (now - last < 100 && done < total)) return;
      last = now;
      drawProgress(label, done, total);
    },
    done() {
      if (tty) process.stderr.write('\n');
    },
  };
}
