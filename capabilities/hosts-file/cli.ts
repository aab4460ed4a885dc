// flotilla hosts-file: /etc/hosts per host, or one change on every selected host (add or change
// an entry, remove a name, undo the last change); then the table of each host's file and the report.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { isHostName, entryProblem, splitEntry } from './hosts.ts';
import { printHostTables, printReport } from '../../cli/src/report.ts';
import { callOnSelector } from '../../cli/src/on-selector.ts';
import { booleanFlag, stringFlag, type CommandContext } from '../../cli/src/commands/context.ts';
import { describeRequest, spec, type HostsFileRequest } from './spec.ts';

const USAGE = 'usage: flotilla hosts-file <selector> [--add "IP NAME…" | --remove NAME | --undo]';

/** The request the options ask for, checked here first so that a typo gets one sentence before any dial. */
export function requestFromOptions(add: string | undefined, remove: string | undefined, undo: boolean): HostsFileRequest {
  const asked = [add !== undefined, remove !== undefined, undo].filter(Boolean).length;
  if (asked > 1) throw new FlotillaError('usage', `--add, --remove and --undo are one change each: give one of them (${USAGE})`);
  if (add !== undefined) {
    const { address, names } = splitEntry(add);
    const problem = entryProblem(address, names);
    if (problem) throw new FlotillaError('usage', `--add "${add}": ${problem}`);
    return { op: 'add', address, names };
  }
  if (remove !== undefined) {
    if (!isHostName(remove)) throw new FlotillaError('usage', `--remove "${remove}": not a valid host name`);
    return { op: 'remove', name: remove };
  }
  return undo ? { op: 'undo' } : { op: 'read' };
}

async function hostsFileCommand(ctx: CommandContext): Promise<number> {
  const selector = ctx.args[0];
  if (!selector || ctx.args.length > 1) throw new FlotillaError('usage', USAGE);
  const request = requestFromOptions(stringFlag(ctx, 'add'), stringFlag(ctx, 'remove'), booleanFlag(ctx, 'undo'));
  const { names, results, stopped } = await callOnSelector(ctx, selector, spec, request);
  printHostTables(ctx, { results, names }, ['LINE', 'ADDRESS', 'NAMES', 'COMMENT'], (d) =>
    d.lines.flatMap((l) => (l.address && l.names ? [[String(l.line), l.address, l.names.join(' '), l.comment ?? '']] : [])),
  );
  return printReport(ctx, {
    selector,
    command: `hosts-file ${describeRequest(request)}`,
    results,
    names,
    ...(stopped ? { stopped } : {}),
    detail: (r) => {
      if (!r.data) return '';
      if (r.data.change) return `${r.data.change}${r.data.written === 'in-place' ? ' (written in place: the file is a mount point)' : ''}`;
      return `${r.data.lines.filter((l) => l.address).length} entries${r.data.undo ? ', undo available' : ''}`;
    },
  });
}

/** The CLI commands of this capability (capabilities/hosts-file/spec.ts declares their usage and options). */
export const commands = { 'hosts-file': hostsFileCommand };
