// What run and push leave in the fleet's store: with --queue, a task for each matching host that
// could not be reached (sealed to that host, run when it comes back before the deadline), or one
// tag-window task (--window) for every host matching the selector within the window; after
// every run, a history document so the fleet's other devices list it (flotilla history).

import { FlotillaError } from '../../shared/wire/errors.ts';
import type { HostResult } from '../../shared/controller/operations.ts';
import type { ResultStatus } from '../../shared/wire/protocol.ts';
import type { HistoryHost } from '../../shared/store/documents.ts';
import type { Obj } from '../../shared/wire/validate.ts';
import type { Home } from './home.ts';
import { loadFleetState, openFleetState, storeProblem, type FleetState } from './fleet-state.ts';
import { parseDuration } from './duration.ts';
import type { CommandContext } from './commands/context.ts';

/** The status a host gets in the report when its task was left in the store for it. */
export const QUEUED = 'queued' as ResultStatus;

/** Longest --deadline or --window: the store keeps a record at most 400 days. */
const MAX_QUEUE_MS = 400 * 86_400_000;

/** What --queue, --deadline and --window asked for. */
export interface QueueOptions {
  /** How long the task waits for its hosts (ms). */
  forMs: number;
  /** A tag window: any host matching the selector within it, also hosts enrolled later. */
  window: boolean;
}

function flag(ctx: CommandContext, name: string): string | undefined {
  const value = ctx.flags[name];
  return typeof value === 'string' ? value : undefined;
}

/** Parses --queue [--deadline 24h] and --window 7d; undefined when neither was given. */
export function queueOptions(ctx: Pick<CommandContext, 'flags'>): QueueOptions | undefined {
  const deadline = flag(ctx as CommandContext, 'deadline');
  const window = flag(ctx as CommandContext, 'window');
  const queue = ctx.flags['queue'] === true;
  if (!queue && window === undefined) {
    if (deadline !== undefined) throw new FlotillaError('usage', '--deadline goes with --queue, as in: flotilla run --queue --deadline 24h web-1 -- uname -a');
    return undefined;
  }
  if (window !== undefined && deadline !== undefined)
    throw new FlotillaError('usage', '--window and --deadline both say how long the task waits: give one, as in --window 7d');
  const text = window ?? deadline ?? '24h';
  const forMs = parseDuration(text);
  if (forMs <= 0 || forMs > MAX_QUEUE_MS)
    throw new FlotillaError('usage', `--${window !== undefined ? 'window' : 'deadline'} ${text} must be more than 0 and at most 400d, as in 24h or 7d`);
  return { forMs, window: window !== undefined };
}

/** The task as it is left in the store. */
export interface QueuedTask {
  task: string;
  /** The request as the capability's spec parses it (exec, push.begin with the file's content). */
  request: Obj;
  summary: string;
  selector: string;
}

/**
 * Leaves the task for every host of `results` that could not be reached (or, with a window,
 * one record for the selector) and returns the results with those hosts `queued`, and each
 * queued host's deadline. When the store cannot be written the hosts stay unreachable and one
 * line says why.
 */
export async function queueUnreachable(
  ctx: CommandContext,
  home: Home,
  options: QueueOptions,
  task: QueuedTask,
  results: readonly HostResult[],
  state?: FleetState,
): Promise<{ results: HostResult[]; deadlines: Map<string, number>; state: FleetState }> {
  const fleetState = state ?? (await openFleetState(home, ctx.err));
  const deadline = Date.now() + options.forMs;
  const offline = results.filter((r) => r.status === 'unreachable').map((r) => r.hostId);
  const deadlines = new Map<string, number>();
  const base = { ...task, deadline, deviceName: home.device.cert.body.name };
  try {
    if (options.window) await fleetState.sync.queueTask(base, { window: true });
    else if (offline.length > 0) {
      const records = await home.hosts.all();
      const hosts = offline.map((id) => ({ id, encPub: records.find((r) => r.id === id)?.encPub ?? '' })).filter((h) => h.encPub);
      await fleetState.sync.queueTask(base, { hosts });
      for (const h of hosts) deadlines.set(h.id, deadline);
    }
    if (options.window) for (const id of offline) deadlines.set(id, deadline);
  } catch (error) {
    ctx.err(`could not queue the task in the fleet's store: ${storeProblem(error)}`);
    deadlines.clear();
  }
  return {
    results: results.map((r) => (deadlines.has(r.hostId) ? { hostId: r.hostId, status: QUEUED, durationMs: 0 } : r)),
    deadlines,
    state: fleetState,
  };
}

/** One run as a history document's hosts. */
export function historyHosts(results: readonly HostResult[], names: ReadonlyMap<string, string>): HistoryHost[] {
  return results.map((r) => ({
    host: r.hostId,
    hostname: (names.get(r.hostId) ?? r.hostId.slice(0, 8)).slice(0, 255),
    status: r.status,
    ...(r.exitCode === undefined ? {} : { exit: r.exitCode }),
    ...(Number.isFinite(r.durationMs) ? { durationMs: Math.max(0, Math.round(r.durationMs)) } : {}),
    ...(r.error ? { error: `${r.error.code}${r.error.detail ? `: ${r.error.detail}` : ''}`.slice(0, 1024) } : {}),
  }));
}

/**
 * Writes the history document of a run that ended (bounded; a store out of reach is one line
 * on stderr and the run's exit status is unchanged).
 */
export async function recordHistory(
  ctx: CommandContext,
  home: Home,
  run: {
    task: string;
    command: 'run' | 'push';
    summary: string;
    selector: string;
    startedAt: number;
    results: readonly HostResult[];
    names: ReadonlyMap<string, string>;
  },
  state?: FleetState,
): Promise<void> {
  try {
    // A history document has a record of its own (version 1): no need to read the store first
    // unless this home has no keyring cached yet (a conflict makes write() read it anyway).
    let fleetState = state ?? (await loadFleetState(home));
    if (!state && !fleetState.cachedDevicesKeyring) {
      fleetState = await openFleetState(home, ctx.err);
      if (!fleetState.live) return; // already said on stderr
    }
    const at = Date.now();
    await fleetState.sync.write(
      {
        type: 'history',
        task: run.task,
        command: run.command,
        summary: run.summary.slice(0, 1024),
        selector: run.selector.slice(0, 4096),
        deviceName: home.device.cert.body.name.slice(0, 128),
        startedAt: run.startedAt,
        endedAt: at,
        results: historyHosts(run.results, run.names),
        at,
      },
      run.task,
    );
  } catch (error) {
    ctx.err(`history: this run was not stored for the fleet's other devices: ${storeProblem(error)}`);
  }
}
