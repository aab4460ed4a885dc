// flotilla ports: listening sockets per host (a table per host, then the report).

import { callOnHost } from '../../shared/controller/operations.ts';
import { runPipeline } from '../../shared/controller/task-pipeline.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet, selectTargets } from '../../cli/src/fleet.ts';
import { pipelineOptions, printHostTables, printReport } from '../../cli/src/report.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { spec } from './spec.ts';

async function portsCommand(ctx: CommandContext): Promise<number> {
  const selector = ctx.args[0] ?? '*';
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  try {
    const { names, targets } = await selectTargets(fleet, selector);
    const signal = ctx.signal ? { signal: ctx.signal } : {};
    const { results, stopped } = await runPipeline(
      fleet.controller,
      targets,
      (id) => callOnHost(fleet.controller, id, spec, {}, signal),
      pipelineOptions(ctx, names),
    );
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
  } finally {
    await fleet.close();
  }
}

/** The CLI commands of this capability (capabilities/ports/spec.ts declares their usage and options). */
export const commands = { ports: portsCommand };
