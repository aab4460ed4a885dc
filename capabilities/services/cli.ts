// flotilla services: the service units of every host a selector matches (a table per host), or
// one action on a unit (start, stop, restart, enable, disable, status), then the report.

import { FlotillaError } from '../../shared/wire/errors.ts';
import type { DataOf } from '../spec.ts';
import { color, createLinePrinter, table } from '../../cli/src/output.ts';
import { printReport } from '../../cli/src/report.ts';
import { callOnSelector } from '../../cli/src/on-selector.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { unitNameProblem, type ServiceUnit } from './parse.ts';
import { ACTIONS, spec, type ServiceAction } from './spec.ts';

type Data = DataOf<typeof spec>;

const EXAMPLE = "as in: flotilla services 'web-*' restart nginx";

/** The request a command line asks for; a bad action or unit name is a usage error, before any dial. */
export function parseServicesArgs(args: readonly string[]): { selector: string; action: ServiceAction; unit?: string } {
  const [selector, actionWord, unit, ...extra] = args;
  if (!selector) throw new FlotillaError('usage', `flotilla services needs a selector, ${EXAMPLE} (or no action, to list)`);
  if (actionWord === undefined) return { selector, action: 'list' };
  const action = ACTIONS.find((a) => a === actionWord);
  if (!action)
    throw new FlotillaError('usage', `"${actionWord}" is not a services action: use one of ${ACTIONS.filter((a) => a !== 'list').join(', ')}, ${EXAMPLE}`);
  if (action === 'list') {
    if (unit !== undefined) throw new FlotillaError('usage', `list takes no unit, as in: flotilla services 'web-*'`);
    return { selector, action };
  }
  if (unit === undefined || extra.length) throw new FlotillaError('usage', `${action} takes one unit, as in: flotilla services ${selector} ${action} nginx`);
  const problem = unitNameProblem(unit);
  if (problem) throw new FlotillaError('usage', problem);
  return { selector, action, unit };
}

/** The colour of an active state. */
function activeColor(state: string): string {
  return color(state === 'active' ? 32 : state === 'failed' ? 31 : state === 'inactive' ? 90 : 33, state);
}

/** One host's service table. */
export function servicesTable(units: readonly ServiceUnit[]): string {
  return table(
    ['UNIT', 'ACTIVE', 'SUB', 'ENABLED', 'DESCRIPTION'],
    units.map((u) => [u.unit, activeColor(u.active), u.sub, u.enabled || '-', u.description]),
  );
}

/** What the DETAIL column says of a host's ok result. */
function summary(data: Data | undefined): string {
  if (!data) return '';
  if (data.units) {
    const running = data.units.filter((u) => u.sub === 'running').length;
    const failed = data.units.filter((u) => u.active === 'failed').length;
    return `${data.units.length} services, ${running} running${failed ? `, ${failed} failed` : ''}`;
  }
  return data.action === 'status' ? '' : `${data.action} ${data.unit ?? ''} done`;
}

async function servicesCommand(ctx: CommandContext): Promise<number> {
  // A unit after `--` is still one (`start -- -x` reaches the check and is refused there).
  const { selector, action, unit } = parseServicesArgs([...ctx.args, ...ctx.rest]);
  const body = { action, ...(unit ? { unit } : {}) };
  // Rolling options apply: `services 'web-*' restart nginx --batch 2 --max-fail 1`.
  const { names, results, stopped } = await callOnSelector(ctx, selector, spec, body);
  if (!ctx.flags.json) {
    const printer = createLinePrinter((t) => ctx.write(t));
    for (const r of results) {
      const name = names.get(r.hostId) ?? r.hostId.slice(0, 8);
      if (r.data?.units) ctx.out(`${color(1, `── ${name}`)}\n${servicesTable(r.data.units)}\n`);
      else if (r.data?.text) {
        await printer.write(name, 'stdout', new TextEncoder().encode(r.data.text + '\n'));
        await printer.flush(name);
      }
    }
  }
  return printReport(ctx, {
    selector,
    command: unit ? `${action} ${unit}` : action,
    results,
    names,
    ...(stopped ? { stopped } : {}),
    detail: (r) => summary(r.data),
  });
}

/** The CLI commands of this capability (capabilities/services/spec.ts declares their usage). */
export const commands = { services: servicesCommand };
