// flotilla queue list | show <task> | cancel <task>: tasks left in the fleet's store for hosts
// that were offline (run --queue, push --queue, the PWA's "queue for offline hosts"), from every
// device of the fleet, and where each stands on each host.

import { FlotillaError } from '../../../shared/wire/errors.ts';
import type { QueueEntry } from '../../../shared/store/fleet-sync.ts';
import { openHome } from '../home.ts';
import { openFleetState } from '../fleet-state.ts';
import { ago, color, statusColor, table } from '../output.ts';
import type { CommandContext } from './context.ts';

const USAGE = 'flotilla queue list [--json] | flotilla queue show <task> | flotilla queue cancel <task>';

/** A host's label: its hostname in this home, in its result, or its id's first characters. */
export type HostNames = ReadonlyMap<string, string>;

const label = (names: HostNames, id: string, fallback?: string) => names.get(id) ?? fallback ?? id.slice(0, 8);

/** One queued task as --json prints it. */
export function queueJson(entry: QueueEntry, names: HostNames): Record<string, unknown> {
  return {
    task: entry.task,
    summary: entry.summary,
    selector: entry.selector,
    window: entry.window,
    deadline: entry.deadline,
    device: entry.by,
    at: entry.at,
    ...(entry.cancelled ? { cancelled: true } : {}),
    hosts: entry.hosts.map((h) => ({
      id: h.host,
      hostname: label(names, h.host, h.result?.hostname),
      state: h.state,
      ...(h.result ? { exit: h.result.exit ?? null, startedAt: h.result.startedAt, endedAt: h.result.endedAt } : {}),
      ...(h.result?.error ? { error: h.result.error } : {}),
    })),
  };
}

/** The rows of `queue list`: one per task and host (a tag window nobody answered yet: one row for the window). */
export function queueRows(entries: readonly QueueEntry[], names: HostNames, now = Date.now()): string[][] {
  const rows: string[][] = [];
  for (const e of entries) {
    const deadline = e.deadline <= now ? `${new Date(e.deadline).toISOString()} (passed)` : new Date(e.deadline).toISOString();
    const common = [e.summary.length > 40 ? `${e.summary.slice(0, 39)}…` : e.summary, e.by || '?'];
    const hosts = e.hosts.length
      ? e.hosts.map((h) => [label(names, h.host, h.result?.hostname), h.state, h.result?.exit === undefined ? '-' : String(h.result.exit)])
      : [[`window ${e.selector}`, e.cancelled ? 'cancelled' : e.deadline <= now ? 'expired' : 'queued', '-']];
    for (const [host, state, exit] of hosts) rows.push([e.task, host!, statusColor(state!), exit!, deadline, ...common]);
  }
  return rows;
}

/** The task an argument names: its full id or the start of exactly one. */
export function findTask(entries: readonly { task: string }[], text: string | undefined): string {
  if (!text) throw new FlotillaError('usage', `name a task, as in: ${USAGE}`);
  const exact = entries.find((e) => e.task === text);
  if (exact) return exact.task;
  const matches = [...new Set(entries.filter((e) => e.task.startsWith(text)).map((e) => e.task))];
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new FlotillaError('usage', `"${text}" is the start of several tasks (${matches.slice(0, 5).join(', ')}); give more of the id`);
  throw new FlotillaError('usage', `no queued task "${text}"; see flotilla queue list`);
}

export async function queueCommand(ctx: CommandContext): Promise<number> {
  const [sub = 'list', arg, ...extra] = ctx.args;
  if (!['list', 'ls', 'show', 'cancel'].includes(sub) || extra.length > 0)
    throw new FlotillaError('usage', `"${ctx.args.join(' ')}" is not a queue command: use ${USAGE}`);
  const home = await openHome();
  const state = await openFleetState(home, ctx.err);
  const names = new Map((await home.hosts.all()).filter((h) => h.facts?.hostname).map((h) => [h.id, h.facts!.hostname]));
  const entries = state.sync.queue();
  if (sub === 'list' || sub === 'ls') {
    if (ctx.flags.json) ctx.out(JSON.stringify(entries.map((e) => queueJson(e, names))));
    else if (entries.length === 0) ctx.out('No queued tasks. Queue one for offline hosts with: flotilla run --queue <selector> -- <command>');
    else ctx.out(table(['TASK', 'HOST', 'STATE', 'EXIT', 'DEADLINE', 'COMMAND', 'DEVICE'], queueRows(entries, names)));
    return 0;
  }
  const task = findTask(entries, arg);
  const entry = entries.find((e) => e.task === task)!;
  if (sub === 'cancel') {
    const waiting = entry.hosts.filter((h) => h.state === 'queued').length;
    const changed = await state.sync.cancelTask(task);
    if (ctx.flags.json) ctx.out(JSON.stringify({ task, cancelled: changed }));
    else
      ctx.out(
        `Cancelled task ${task} (${changed} record(s)${entry.window ? ', the tag window' : `, ${waiting} host(s) still waiting`}); hosts that already ran it keep their results`,
      );
    return 0;
  }
  // show: each host's output.
  if (ctx.flags.json) {
    ctx.out(JSON.stringify({ ...queueJson(entry, names), results: entry.hosts.filter((h) => h.result).map((h) => h.result) }));
    return 0;
  }
  ctx.out(
    `Task ${task}: ${entry.summary}\nSelector ${entry.selector}${entry.window ? ' (tag window)' : ''} · from ${entry.by || '?'} ${ago(entry.at)} · deadline ${new Date(entry.deadline).toISOString()}`,
  );
  for (const h of entry.hosts) {
    const exit = h.result?.exit === undefined ? '' : `, exit ${h.result.exit}`;
    ctx.out(color(1, `== ${label(names, h.host, h.result?.hostname)} (${h.state}${exit})`));
    if (h.result?.output) ctx.write(h.result.output.endsWith('\n') ? h.result.output : `${h.result.output}\n`);
    if (h.result?.error) ctx.out(color(31, h.result.error));
  }
  if (entry.hosts.length === 0) ctx.out('No host has run it yet.');
  return 0;
}
