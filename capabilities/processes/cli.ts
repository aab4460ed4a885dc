// flotilla ps and flotilla kill: the process table of each selected host, and a signal to a pid.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { newTaskId } from '../../shared/controller/operations.ts';
import { ago, color, table } from '../../cli/src/output.ts';
import { printReport } from '../../cli/src/report.ts';
import { callOnSelector } from '../../cli/src/on-selector.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { SIGNALS, SORTS, spec, type ProcessesRequest } from './spec.ts';

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)}M`;
}

async function psCommand(ctx: CommandContext): Promise<number> {
  const [selector, extra] = ctx.args;
  if (!selector || extra !== undefined) throw new FlotillaError('usage', "flotilla ps needs one selector, as in: flotilla ps 'web-*' --sort mem");
  const sort = ctx.flags['sort'];
  if (sort !== undefined && !(SORTS as readonly unknown[]).includes(sort))
    throw new FlotillaError('usage', `--sort ${String(sort)}: use one of ${SORTS.join(', ')}`);
  const request: ProcessesRequest = {
    action: 'list',
    ...(sort ? { sort: sort as (typeof SORTS)[number] } : {}),
    ...(ctx.flags.user ? { user: ctx.flags.user } : {}),
    ...(typeof ctx.flags['grep'] === 'string' ? { grep: ctx.flags['grep'] } : {}),
  };
  const { names, results, stopped } = await callOnSelector(ctx, selector, spec, request);
  if (!ctx.flags.json) {
    for (const r of results) {
      if (r.data?.kind !== 'list') continue;
      ctx.out(color(1, `== ${names.get(r.hostId) ?? r.hostId.slice(0, 8)} (${r.data.processes.length} of ${r.data.total} processes)`));
      ctx.out(
        table(
          ['PID', 'PPID', 'USER', 'S', 'CPU%', 'RSS', 'STARTED', 'COMMAND'],
          r.data.processes.map((p) => [
            String(p.pid),
            String(p.ppid),
            p.user,
            p.state,
            p.cpu.toFixed(1),
            mib(p.rssBytes),
            ago(p.startedAt),
            p.command.slice(0, 200),
          ]),
        ),
      );
      ctx.out('');
    }
  }
  return printReport(ctx, {
    task: newTaskId(),
    selector,
    command: 'ps',
    results,
    names,
    ...(stopped ? { stopped } : {}),
    detail: (r) => (r.data?.kind === 'list' ? `${r.data.total} processes` : ''),
  });
}

async function killCommand(ctx: CommandContext): Promise<number> {
  const [selector, pidText, extra] = ctx.args;
  const pid = Number(pidText);
  if (!selector || !pidText || extra !== undefined || !Number.isInteger(pid) || pid < 1) {
    throw new FlotillaError('usage', 'flotilla kill needs a selector and a pid, as in: flotilla kill web-1 4242 --signal TERM');
  }
  const name = (ctx.flags.signal ?? 'TERM').toUpperCase().replace(/^SIG/, '');
  if (!(SIGNALS as readonly string[]).includes(name)) throw new FlotillaError('usage', `--signal ${ctx.flags.signal}: use one of ${SIGNALS.join(', ')}`);
  const { names, results, stopped } = await callOnSelector(ctx, selector, spec, { action: 'signal', pid, signal: name as (typeof SIGNALS)[number] });
  return printReport(ctx, {
    task: newTaskId(),
    selector,
    command: `kill -${name} ${pid}`,
    results,
    names,
    ...(stopped ? { stopped } : {}),
    detail: (r) => (r.data?.kind === 'signal' ? `SIG${r.data.signal} sent to ${r.data.pid}` : ''),
  });
}

/** The CLI commands of this capability (capabilities/processes/spec.ts declares their usage and options). */
export const commands = { ps: psCommand, kill: killCommand };
