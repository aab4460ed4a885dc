// The body of most selector commands: open the fleet, resolve the selector, send one
// capability request to every host through the task pipeline (rolling options, Ctrl-C, offline
// hosts), and hand back each host's typed result for the command to print.

import { callOnHost, type HostResult } from '../../shared/controller/operations.ts';
import { runPipeline } from '../../shared/controller/task-pipeline.ts';
import type { AnySpec, DataOf, RequestOf } from '../../capabilities/spec.ts';
import { openHome } from './home.ts';
import { openFleet, selectTargets } from './fleet.ts';
import { pipelineOptions } from './report.ts';
import type { CommandContext } from './commands/context.ts';

/** What a request on a selector gave: each host's result in target order, display names, and why a rolling run stopped. */
export interface SelectorOutcome<D extends object> {
  names: Map<string, string>;
  results: HostResult<D>[];
  stopped?: string;
}

/** Sends `request` of `spec` to every host `selector` matches; the fleet is closed before this returns. */
export async function callOnSelector<S extends AnySpec>(
  ctx: CommandContext,
  selector: string,
  spec: S,
  request: RequestOf<S>,
): Promise<SelectorOutcome<DataOf<S>>> {
  // Checked before connecting: a mistyped --batch is a usage error, not a half-started task.
  const options = pipelineOptions<DataOf<S>>(ctx);
  const fleet = await openFleet(await openHome(), ctx.fleetOptions);
  try {
    const { names, targets } = await selectTargets(fleet, selector);
    const signal = ctx.signal ? { signal: ctx.signal } : {};
    const outcome = await runPipeline(fleet.controller, targets, (id) => callOnHost(fleet.controller, id, spec, request, signal), {
      ...options,
      onBatch: (index, ids) => ctx.err(`batch ${index + 1}: ${ids.map((id) => names.get(id) ?? id.slice(0, 8)).join(', ')}`),
    });
    return { names, ...outcome };
  } finally {
    await fleet.close();
  }
}
