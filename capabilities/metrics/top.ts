// flotilla top: a live table of hosts, the busiest first, fed by each agent's metrics subscription.
// In a terminal it takes the screen (raw mode, keys c/m/d sort, q quits); when stdout is not a
// terminal it prints the table once, when every online host has answered, and exits.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { followMetrics, headline, type Headline } from '../../shared/controller/metrics.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet, selectTargets } from '../../cli/src/fleet.ts';
import { color, statusColor, table } from '../../cli/src/output.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { bytes } from './format.ts';

/** What top subscribes to: the headline series only, not every core and counter. */
const SERIES = ['cpu', 'load1', 'mem.used', 'mem.total', 'fs:*', 'net:*'];
/** How long the one-shot (non-terminal) table waits for hosts that have not sent a sample. */
const ONCE_WAIT_MS = 20_000;

/** One host's line. */
export interface TopRow {
  name: string;
  status: string;
  figures?: Headline;
  error?: string;
}

export type SortKey = 'cpu' | 'mem' | 'disk';

const keyOf: Record<SortKey, (h: Headline) => number> = {
  cpu: (h) => h.cpu ?? -1,
  mem: (h) => h.mem ?? -1,
  disk: (h) => h.disk?.pct ?? -1,
};

/** The table's lines: hosts with figures sorted by `sort` (highest first), then the others by name. */
export function renderTop(rows: readonly TopRow[], sort: SortKey): string {
  const sorted = [...rows].sort((a, b) => {
    if (a.figures && b.figures) return keyOf[sort](b.figures) - keyOf[sort](a.figures) || a.name.localeCompare(b.name);
    if (a.figures || b.figures) return a.figures ? -1 : 1;
    return a.name.localeCompare(b.name);
  });
  const pct = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(1));
  const mark = (key: SortKey, text: string) => (key === sort ? `${text}▼` : text);
  return table(
    ['HOST', mark('cpu', 'CPU%'), 'LOAD', mark('mem', 'MEM%'), mark('disk', 'DISK%'), 'MOUNT', 'RX/s', 'TX/s', 'STATUS'],
    sorted.map((r) => {
      const f = r.figures;
      return [
        r.name,
        pct(f?.cpu),
        f?.load1?.toFixed(2) ?? '-',
        pct(f?.mem),
        pct(f?.disk?.pct),
        f?.disk?.mount ?? '-',
        f ? bytes(f.rx) : '-',
        f ? bytes(f.tx) : '-',
        r.error ? `${statusColor(r.status)} ${r.error}` : statusColor(r.status),
      ];
    }),
  );
}

/** flotilla top <selector>. */
export async function runTop(ctx: CommandContext): Promise<number> {
  const [selector, extra] = ctx.args;
  if (!selector || extra !== undefined) throw new FlotillaError('usage', "flotilla top needs one selector, as in: flotilla top '*'");
  const live = process.stdout.isTTY === true && process.stdin.isTTY === true && !ctx.flags.json && !ctx.signal;
  const fleet = await openFleet(await openHome(), ctx.fleetOptions);
  const abort = new AbortController();
  let sort: SortKey = 'cpu';
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  try {
    const { names, targets } = await selectTargets(fleet, selector);
    const rows = new Map<string, TopRow>(
      targets.map((t) => [t.id, { name: names.get(t.id) ?? t.id.slice(0, 8), status: t.online ? 'connecting' : 'offline' }]),
    );
    let scheduled: NodeJS.Timeout | undefined;
    const draw = () => {
      scheduled = undefined;
      const rowsShown = Math.max(1, (process.stdout.rows ?? 40) - 3);
      const lines = renderTop([...rows.values()], sort).split('\n');
      const hidden = lines.length - 1 - rowsShown;
      const body = lines.slice(0, rowsShown + 1).join('\n');
      const footer = color(90, `${rows.size} hosts${hidden > 0 ? ` (${hidden} not shown)` : ''} · sort: c cpu, m memory, d disk · q quit`);
      process.stdout.write(`\x1b[H\x1b[2J${body}\n\n${footer}\n`);
    };
    const changed = () => {
      if (live) scheduled ??= setTimeout(draw, 200);
      else if ([...rows.values()].every((r) => r.status !== 'connecting')) finish();
    };
    const following = targets
      .filter((t) => t.online)
      .map((t) =>
        followMetrics(
          fleet.controller,
          t.id,
          (sample) => {
            const row = rows.get(t.id)!;
            row.status = 'live';
            row.figures = headline(sample);
            changed();
          },
          { signal: abort.signal, series: SERIES },
        ).then((result) => {
          const row = rows.get(t.id)!;
          if (result.status !== 'cancelled' && result.status !== 'ok') {
            row.status = result.status;
            if (result.error) row.error = `${result.error.code}${result.error.detail ? `: ${result.error.detail}` : ''}`;
            changed();
          }
        }),
      );
    changed();
    if (live) {
      process.stdout.write('\x1b[?1049h\x1b[?25l');
      process.stdin.setRawMode(true);
      process.stdin.resume();
      const onKey = (data: Buffer) => {
        const key = data.toString();
        if (key === 'q' || key === 'Q' || key === '\x03' || key === '\x1b') finish();
        else if (key === 'c' || key === 'm' || key === 'd') {
          sort = key === 'c' ? 'cpu' : key === 'm' ? 'mem' : 'disk';
          draw();
        }
      };
      const onResize = () => draw();
      process.stdin.on('data', onKey);
      process.stdout.on('resize', onResize);
      const redraw = setInterval(draw, 1000);
      draw();
      try {
        await finished;
      } finally {
        clearInterval(redraw);
        clearTimeout(scheduled);
        process.stdin.off('data', onKey);
        process.stdout.off('resize', onResize);
        process.stdin.setRawMode(false);
        process.stdin.pause();
        process.stdout.write('\x1b[?25h\x1b[?1049l');
      }
    } else {
      const onSigint = () => finish();
      process.once('SIGINT', onSigint);
      const timer = setTimeout(finish, ONCE_WAIT_MS);
      await finished;
      clearTimeout(timer);
      process.off('SIGINT', onSigint);
      for (const row of rows.values()) if (row.status === 'connecting') row.status = 'no answer';
      if (ctx.flags.json) {
        ctx.out(
          JSON.stringify({
            selector,
            hosts: [...rows].map(([id, r]) => ({
              id,
              hostname: r.name,
              status: r.status,
              ...(r.figures ? { figures: r.figures } : {}),
              ...(r.error ? { error: r.error } : {}),
            })),
          }),
        );
      } else ctx.out(renderTop([...rows.values()], sort));
    }
    abort.abort();
    await Promise.allSettled(following);
    return [...rows.values()].every((r) => r.status === 'live') ? 0 : 1;
  } finally {
    abort.abort();
    await fleet.close();
  }
}
