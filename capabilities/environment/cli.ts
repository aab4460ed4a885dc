// flotilla env: a process's environment per host (the agent's by default), with the system files
// that set it; a table per host, then the report.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { printHostTables, printReport } from '../../cli/src/report.ts';
import { callOnSelector } from '../../cli/src/on-selector.ts';
import { booleanFlag, stringFlag, type CommandContext } from '../../cli/src/commands/context.ts';
import { spec } from './spec.ts';

/** A value on one table line: newlines and tabs shown as escapes. */
function oneLine(value: string): string {
  return value.replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

async function envCommand(ctx: CommandContext): Promise<number> {
  const selector = ctx.args[0] ?? '*';
  const pidText = stringFlag(ctx, 'pid');
  const pid = pidText === undefined ? undefined : Number(pidText);
  if (pid !== undefined && (!/^\d+$/.test(pidText!) || !Number.isSafeInteger(pid) || pid < 1))
    throw new FlotillaError('usage', `--pid "${pidText}" must be a process id (a positive integer)`);
  const showSecrets = booleanFlag(ctx, 'show-secrets');
  const body = { ...(pid === undefined ? {} : { pid }), ...(showSecrets ? { showSecrets } : {}) };
  const { names, results, stopped } = await callOnSelector(ctx, selector, spec, body);
  printHostTables(ctx, { results, names }, ['SOURCE', 'NAME', 'VALUE'], (d) => [
    ...d.variables.map((v) => [`pid ${d.pid} (${d.program})`, v.name, oneLine(v.value) + (v.truncated ? ' …' : '')]),
    ...(d.etcEnvironment ?? []).map((v) => ['/etc/environment', v.name, oneLine(v.value)]),
    ...d.profileD.map((n) => ['/etc/profile.d', n, '']),
  ]);
  return printReport(ctx, {
    selector,
    command: `env${pid === undefined ? '' : ` --pid ${pid}`}${showSecrets ? ' --show-secrets' : ''}`,
    results,
    names,
    ...(stopped ? { stopped } : {}),
    detail: (r) => (r.data ? `${r.data.variables.length} variables of pid ${r.data.pid}${r.data.secretsShown ? ', secrets shown' : ''}` : ''),
  });
}

/** The CLI commands of this capability (capabilities/environment/spec.ts declares their usage and options). */
export const commands = { env: envCommand };
