// flotilla ports: listening sockets per host (a table per host, then the report).

import { callOnSelector } from '../../cli/src/on-selector.ts';
import { printHostTables, printReport } from '../../cli/src/report.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { spec } from './spec.ts';

async function portsCommand(ctx: CommandContext): Promise<number> {
  const selector = ctx.args[0] ?? '*';
  const { names, results, stopped } = await callOnSelector(ctx, selector, spec, {});
  printHostTables(ctx, { results, names }, ['PROTO', 'ADDRESS', 'PORT', 'PID', 'PROGRAM'], (d) =>
    d.sockets.map((s) => [s.protocol, s.address, String(s.port), s.pid === null ? '-' : String(s.pid), s.program ?? '-']),
  );
  return printReport(ctx, {
    selector,
    results,
    names,
    ...(stopped ? { stopped } : {}),
    detail: (r) => (r.data ? `${r.data.sockets.length} listening${r.data.truncated ? ' (truncated)' : ''}` : ''),
  });
}

/** The CLI commands of this capability (capabilities/ports/spec.ts declares their usage and options). */
export const commands = { ports: portsCommand };
