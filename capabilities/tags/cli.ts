// flotilla tag: set or remove tags on one host.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { callOk } from '../../shared/controller/agent-connection.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet } from '../../cli/src/fleet.ts';
import { findHost } from '../../cli/src/commands/admin.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { spec } from './spec.ts';

async function tagCommand(ctx: CommandContext): Promise<number> {
  const [hostText, ...pairs] = ctx.args;
  const tags: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new FlotillaError('usage', `tag "${pair}" must be key=value (key= removes it), as in: flotilla tag ${hostText ?? '<host>'} role=web`);
    tags[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  if (!Object.keys(tags).length)
    throw new FlotillaError('usage', `flotilla tag needs a host and key=value pairs, as in: flotilla tag ${hostText ?? '<host>'} role=web env=prod`);
  const home = await openHome();
  const id = await findHost(home, hostText);
  const fleet = await openFleet(home, ctx.fleetOptions);
  try {
    const connection = await fleet.controller.connect(id);
    const result = await callOk(connection, spec, { tags });
    await fleet.controller.refresh(id);
    ctx.out(
      ctx.flags.json
        ? JSON.stringify(result)
        : `Tags of ${id.slice(0, 8)}: ${Object.entries(result.tags)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
    );
    return 0;
  } finally {
    await fleet.close();
  }
}

/** The CLI commands of this capability (capabilities/tags/spec.ts declares their usage and options). */
export const commands = { tag: tagCommand };
