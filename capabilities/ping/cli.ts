// flotilla ping: round trip through the secure session and the connection's path, per host.

import { pingHost } from '../../shared/controller/operations.ts';
import { runPipeline } from '../../shared/controller/task-pipeline.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet, selectTargets } from '../../cli/src/fleet.ts';
import { duration } from '../../cli/src/output.ts';
import { pipelineOptions, printReport } from '../../cli/src/report.ts';
import { describePath } from '../../cli/src/commands/hosts.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';

async function pingCommand(ctx: CommandContext): Promise<number> {
  const selector = ctx.args[0] ?? '*';
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  try {
    const { names, targets } = await selectTargets(fleet, selector);
    // Ping dials every selected host, even those presence reports offline: it is how to check.
    const { results, stopped } = await runPipeline(
      fleet.controller,
      targets.map((t) => ({ ...t, online: true })),
      (id) => pingHost(fleet.controller, id),
      pipelineOptions(ctx, names),
    );
    return printReport(ctx, {
      selector,
      results,
      names,
      ...(stopped ? { stopped } : {}),
      columns: [{ header: 'RTT', cell: (r) => (r.data ? duration(r.data.rttMs) : '-') }],
      detail: (r) => (r.data ? describePath(r.data.path) : ''),
    });
  } finally {
    await fleet.close();
  }
}

/** The CLI commands of this capability (capabilities/ping/spec.ts declares their usage and options). */
export const commands = { ping: pingCommand };
