// flotilla metrics and flotilla top: each host's latest figures (and min/avg/max over a range)
// from the agent's history, and a live table of hosts fed by the agents' subscriptions.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { newTaskId } from '../../shared/controller/operations.ts';
import { headline, summarize } from '../../shared/controller/metrics.ts';
import { color, table } from '../../cli/src/output.ts';
import { printReport } from '../../cli/src/report.ts';
import { callOnSelector } from '../../cli/src/on-selector.ts';
import { parseDuration } from '../../cli/src/duration.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { spec, type MetricsRequest } from './spec.ts';
import { runTop } from './top.ts';
import { formatValue } from './format.ts';

async function metricsCommand(ctx: CommandContext): Promise<number> {
  const [selector, extra] = ctx.args;
  if (!selector || extra !== undefined) throw new FlotillaError('usage', "flotilla metrics needs one selector, as in: flotilla metrics 'web-*' --since 1h");
  const sinceText = typeof ctx.flags['since'] === 'string' ? ctx.flags['since'] : undefined;
  const range = sinceText === undefined ? undefined : parseDuration(sinceText);
  if (range !== undefined && (range < 1000 || range > 31 * 86_400_000)) throw new FlotillaError('usage', `--since ${sinceText}: give a range from 1s to 31d`);
  const series = Array.isArray(ctx.flags['series']) ? (ctx.flags['series'] as string[]) : undefined;
  const now = Date.now();
  // Without --since only the latest sample is wanted: a range of one bucket keeps the answer small.
  const request: MetricsRequest = { action: 'query', since: now - (range ?? 1000), until: now, ...(series ? { series } : {}) };
  const { names, results, stopped } = await callOnSelector(ctx, selector, spec, request);
  if (!ctx.flags.json) {
    for (const r of results) {
      if (r.data?.kind !== 'history') continue;
      const { latest } = r.data;
      const h = latest ? headline(latest) : undefined;
      const summary = h
        ? ` cpu ${h.cpu?.toFixed(1) ?? '-'}% · mem ${h.mem?.toFixed(1) ?? '-'}% · load ${h.load1?.toFixed(2) ?? '-'}${h.disk ? ` · ${h.disk.mount} ${h.disk.pct.toFixed(1)}%` : ''}`
        : ' (no sample yet)';
      ctx.out(color(1, `== ${names.get(r.hostId) ?? r.hostId.slice(0, 8)}`) + summary);
      const data = r.data;
      const rows = Object.keys({ ...latest?.values, ...(range === undefined ? {} : data.series) })
        .sort()
        .map((name) => {
          const now = latest?.values[name];
          const row = [name, now === undefined ? '-' : formatValue(name, now)];
          if (range === undefined) return row;
          const s = data.series[name] ? summarize(data.series[name]) : undefined;
          return [...row, ...(s ? [s.min, s.avg, s.max].map((v) => formatValue(name, v)) : ['-', '-', '-'])];
        });
      ctx.out(table(range === undefined ? ['SERIES', 'NOW'] : ['SERIES', 'NOW', 'MIN', 'AVG', 'MAX'], rows));
      if (range !== undefined) ctx.out(color(90, `over ${sinceText} in ${data.step / 1000} s steps`));
      ctx.out('');
    }
  }
  return printReport(ctx, {
    task: newTaskId(),
    selector,
    command: 'metrics',
    results,
    names,
    ...(stopped ? { stopped } : {}),
    detail: (r) => (r.data?.kind === 'history' ? `${Object.keys(r.data.series).length} series, ${r.data.step / 1000} s steps` : ''),
  });
}

/** The CLI commands of this capability (capabilities/metrics/spec.ts declares their usage and options). */
export const commands = { metrics: metricsCommand, top: runTop };
