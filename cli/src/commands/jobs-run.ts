// flotilla jobs run <name> [--param k=v…] [--async] [--json]: runs a job now on every host of its
// target (cli/src/jobs/invoke.ts) and prints each host's run: status, exit code and the tails of
// its output. Exit status 1 when any host did not run it ok (with --async: did not start it).

import { FlotillaError } from '../../../shared/wire/errors.ts';
import { openHome } from '../home.ts';
import { openFleet } from '../fleet.ts';
import { openFleetState } from '../fleet-state.ts';
import { parseDuration } from '../duration.ts';
import { color, duration, statusColor, table } from '../output.ts';
import { checkInvocation, findJob, hostOk, invokeJob, jobsOf, paramsFromWords, type Invocation } from '../jobs/invoke.ts';
import type { CommandContext } from './context.ts';

/** The words of --param, however parseArgs gave them. */
function paramWords(ctx: CommandContext): string[] {
  const raw = ctx.flags['param'];
  return raw === undefined || typeof raw === 'boolean' ? [] : typeof raw === 'string' ? [raw] : raw;
}

/** A run's output for a person: each non-empty stream, indented under its host. */
function outputLines(text: string, stream: 'stdout' | 'stderr'): string[] {
  const body = text.replace(/\n$/, '');
  if (!body) return [];
  return body.split('\n').map((line) => `    ${stream === 'stderr' ? color(31, line) : line}`);
}

/** Prints an invocation as a table of hosts, each followed by its output tails. */
export function printInvocation(inv: Invocation, out: (line: string) => void): void {
  const rows = inv.hosts.map((h) => {
    const r = h.run;
    const took = r?.startedAt !== undefined && r.endedAt !== undefined ? duration(r.endedAt - r.startedAt) : '-';
    return [h.hostname, statusColor(h.status), r?.exit === undefined ? (r?.signal ?? '-') : String(r.exit), took, h.error ?? r?.error ?? ''];
  });
  out(table(['HOST', 'STATUS', 'EXIT', 'TOOK', 'NOTE'], rows));
  for (const h of inv.hosts) {
    const lines = h.run ? [...outputLines(h.run.stdout, 'stdout'), ...outputLines(h.run.stderr, 'stderr')] : [];
    if (lines.length === 0) continue;
    out(color(1, `${h.hostname}:`));
    for (const line of lines) out(line);
  }
  const good = inv.hosts.filter((h) => hostOk(h, inv.wait)).length;
  out(
    `${inv.invocation}: ${inv.job} ${inv.wait ? 'ran ok' : 'started'} on ${good} of ${inv.hosts.length} host${inv.hosts.length === 1 ? '' : 's'}${inv.wait ? '' : ` (follow it with: flotilla jobs logs ${inv.job})`}`,
  );
}

/** `flotilla jobs run <name> [--param k=v…] [--async] [--json]` (the lead wires it under `jobs`). */
export async function jobsRunCommand(ctx: CommandContext): Promise<number> {
  const args = ctx.args[0] === 'run' ? ctx.args.slice(1) : ctx.args;
  const [name, extra] = args;
  if (!name || extra !== undefined)
    throw new FlotillaError('usage', 'flotilla jobs run needs one job name, as in: flotilla jobs run backup --param target=/srv [--async] [--json]');
  const given = paramsFromWords(paramWords(ctx));
  const wait = ctx.flags['async'] !== true;
  const timeoutMs = ctx.flags.timeout ? parseDuration(ctx.flags.timeout) : undefined;
  const home = await openHome();
  const state = await openFleetState(home, ctx.err);
  const job = findJob(jobsOf(state.sync.docsOf('job')), name);
  // Refused here, with the parameter's name, before any host is contacted.
  checkInvocation(job, given);
  const fleet = await openFleet(home, ctx.fleetOptions);
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  if (ctx.signal) ctx.signal.addEventListener('abort', onSigint, { once: true });
  else process.once('SIGINT', onSigint);
  try {
    const inv = await invokeJob(fleet, job, {
      params: given,
      wait,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      signal: ctx.deadline ? AbortSignal.any([abort.signal, ctx.deadline]) : abort.signal,
    });
    if (ctx.flags.json) ctx.out(JSON.stringify(inv));
    else printInvocation(inv, ctx.out);
    return inv.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSigint);
    await fleet.close();
  }
}
