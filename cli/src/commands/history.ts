// flotilla history [--host H] [--status S] [--since 7d] [--limit N] [--json]: the tasks every
// device of the fleet ran (history documents) and the tasks they queued with the results hosts
// left for them, newest first, each marked with the device that ran it.

import { FlotillaError } from '../../../shared/wire/errors.ts';
import type { HistoryDoc, HistoryHost, ResultDoc, TaskDoc } from '../../../shared/store/documents.ts';
import type { QueueEntry } from '../../../shared/store/fleet-sync.ts';
import { openHome } from '../home.ts';
import { openFleetState } from '../fleet-state.ts';
import { parseDuration } from '../duration.ts';
import { ago, table } from '../output.ts';
import type { CommandContext } from './context.ts';

/** One task in the history, from whichever device ran or queued it. */
export interface HistoryEntry {
  task: string;
  command: string;
  summary: string;
  selector: string;
  device: string;
  deviceId: string;
  startedAt: number;
  endedAt?: number;
  queued: boolean;
  results: HistoryHost[];
}

/** What the filters ask for. */
export interface HistoryFilter {
  host?: string;
  status?: string;
  since?: number;
  limit: number;
}

/** A host's line from a queued task's result. */
function fromResult(r: ResultDoc): HistoryHost {
  return {
    host: r.host,
    hostname: r.hostname,
    status: r.status,
    ...(r.exit === undefined ? {} : { exit: r.exit }),
    durationMs: Math.max(0, r.endedAt - r.startedAt),
    ...(r.error ? { error: r.error } : {}),
  };
}

/**
 * Merges history documents with queued tasks and their results: a queued host's line takes the
 * result once the host ran it (or expired, cancelled); a queued task with no history document
 * (made on a device that keeps none) gets an entry of its own.
 */
export function mergeHistory(
  docs: readonly (HistoryDoc & { deviceId: string })[],
  queue: readonly QueueEntry[],
  tasks: readonly (TaskDoc & { deviceId: string })[],
): HistoryEntry[] {
  const byTask = new Map<string, HistoryEntry>();
  for (const d of docs) {
    byTask.set(d.task, {
      task: d.task,
      command: d.command,
      summary: d.summary,
      selector: d.selector,
      device: d.deviceName,
      deviceId: d.deviceId,
      startedAt: d.startedAt,
      ...(d.endedAt === undefined ? {} : { endedAt: d.endedAt }),
      queued: false,
      results: d.results.map((r) => ({ ...r })),
    });
  }
  for (const q of queue) {
    const task = tasks.find((t) => t.task === q.task);
    let entry = byTask.get(q.task);
    if (!entry) {
      entry = {
        task: q.task,
        command: task?.request['type'] === 'push.begin' ? 'push' : 'run',
        summary: q.summary,
        selector: q.selector,
        device: q.by || task?.deviceName || '?',
        deviceId: task?.deviceId ?? '',
        startedAt: q.at,
        queued: true,
        results: [],
      };
      byTask.set(q.task, entry);
    }
    entry.queued = true;
    for (const h of q.hosts) {
      const line: HistoryHost = h.result ? fromResult(h.result) : { host: h.host, hostname: h.host.slice(0, 8), status: h.state };
      const i = entry.results.findIndex((r) => r.host === h.host);
      if (i < 0) entry.results.push(line);
      else entry.results[i] = { ...line, hostname: h.result ? line.hostname : entry.results[i]!.hostname };
    }
  }
  return [...byTask.values()].sort((a, b) => b.startedAt - a.startedAt);
}

/** Applies --host, --status, --since and --limit. */
export function filterHistory(entries: readonly HistoryEntry[], f: HistoryFilter): HistoryEntry[] {
  const host = f.host;
  const matchesHost = (r: HistoryHost) => !host || r.host.startsWith(host) || r.hostname === host;
  return entries
    .filter((e) => f.since === undefined || e.startedAt >= f.since)
    .filter((e) => e.results.some((r) => matchesHost(r) && (!f.status || r.status === f.status)))
    .slice(0, f.limit);
}

/** "3 ok, 1 failed, 1 queued". */
export function statusSummary(results: readonly HistoryHost[]): string {
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} ${s}`).join(', ') || 'no hosts';
}

/** Parses the options of `flotilla history`. */
export function historyFilter(flags: CommandContext['flags'], now = Date.now()): HistoryFilter {
  const text = (name: string) => (typeof flags[name] === 'string' ? (flags[name] as string) : undefined);
  const limitText = text('limit');
  const limit = limitText === undefined ? 50 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1) throw new FlotillaError('usage', `--limit ${limitText} must be a positive whole number, as in --limit 20`);
  const sinceText = text('since');
  const host = text('host');
  const status = text('history-status');
  return { limit, ...(sinceText === undefined ? {} : { since: now - parseDuration(sinceText) }), ...(host ? { host } : {}), ...(status ? { status } : {}) };
}

export async function historyCommand(ctx: CommandContext): Promise<number> {
  if (ctx.args.length > 0)
    throw new FlotillaError(
      'usage',
      `flotilla history takes options, not "${ctx.args[0]}": flotilla history [--host H] [--status S] [--since 7d] [--limit N] [--json]`,
    );
  const filter = historyFilter(ctx.flags);
  const home = await openHome();
  const state = await openFleetState(home, ctx.err);
  const names = new Map((await home.hosts.all()).filter((h) => h.facts?.hostname).map((h) => [h.id, h.facts!.hostname]));
  const entries = filterHistory(mergeHistory(state.sync.history(), state.sync.queue(), state.sync.tasks()), filter);
  for (const e of entries) for (const r of e.results) r.hostname = names.get(r.host) ?? r.hostname;
  if (ctx.flags.json) {
    ctx.out(JSON.stringify(entries));
    return 0;
  }
  if (entries.length === 0) {
    ctx.out('No history matches.');
    return 0;
  }
  ctx.out(
    table(
      ['WHEN', 'TASK', 'DEVICE', 'COMMAND', 'SELECTOR', 'HOSTS'],
      entries.map((e) => [
        ago(e.startedAt),
        e.task,
        e.device,
        `${e.command} ${e.summary.length > 40 ? `${e.summary.slice(0, 39)}…` : e.summary}`,
        e.selector,
        (filter.host ? e.results.filter((r) => r.host.startsWith(filter.host!) || r.hostname === filter.host) : e.results)
          .map((r) => `${r.hostname}:${r.status}${r.exit === undefined ? '' : `(${r.exit})`}`)
          .join(' '),
      ]),
    ),
  );
  ctx.err(`${entries.length} task(s)${state.live ? '' : ' (from the cache)'}`);
  return 0;
}
