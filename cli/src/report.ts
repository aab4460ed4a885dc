// The end of every selector command: one --json schema for all of them, or a table on stdout
// and a one-line summary on stderr. The exit status is 0 only when every host is ok.

import { toWireError, FlotillaError, fromWireError } from '../../shared/wire/errors.ts';
import { exitStatusOf, type PipelineOptions } from '../../shared/controller/task-pipeline.ts';
import { parseRollingOptions } from '../../shared/controller/rolling.ts';
import type { HostResult } from '../../shared/controller/operations.ts';
import { color, duration, statusColor, table } from './output.ts';
import type { CommandContext } from './commands/context.ts';

/** What a selector command reports. */
export interface TaskReport<D extends object> {
  task?: string;
  selector: string;
  /** The command line (run) or what was moved (push, fetch). */
  command?: string;
  results: readonly HostResult<D>[];
  /** Display names by host id (uniqueLabels). */
  names: ReadonlyMap<string, string>;
  /** Per host, what the DETAIL column shows for an ok result. */
  detail?: (result: HostResult<D>) => string;
  /** Per host, extra fields of its JSON result (collected output, a local path). */
  json?: (result: HostResult<D>) => Record<string, unknown>;
  /** Why a rolling run stopped before starting every host (runPipeline's outcome). */
  stopped?: string;
  /** The table's columns between STATUS and DETAIL (default EXIT and TIME), with a cell per result. */
  columns?: { header: string; cell: (result: HostResult<D>) => string }[];
  /** Hosts whose task was left in the store (status `queued`, run --queue), with their deadlines (ms). */
  queued?: ReadonlyMap<string, number>;
}

/** The sentence for an error: the code's sentence and its detail. */
function errorText(result: HostResult<object>): string {
  return result.error ? fromWireError(result.error).message : '';
}

/** One host's result in the --json schema every command shares. */
export function jsonResult<D extends object>(result: HostResult<D>, hostname: string): Record<string, unknown> {
  return {
    id: result.hostId,
    hostname,
    status: result.status,
    exit: result.exitCode ?? null,
    durationMs: result.durationMs,
    error: result.error ? { code: result.error.code, ...(result.error.detail ? { detail: result.error.detail } : {}), message: errorText(result) } : null,
    ...(result.data ? { data: result.data } : {}),
  };
}

/** Prints the report; returns the exit status (0 every host ok, 1 otherwise, 130 cancelled). */
export function printReport<D extends object>(ctx: CommandContext, report: TaskReport<D>): number {
  const name = (r: HostResult<D>) => report.names.get(r.hostId) ?? r.hostId.slice(0, 8);
  const ok = report.results.filter((r) => r.status === 'ok').length;
  const queued = report.queued ?? new Map<string, number>();
  const isQueued = (r: HostResult<D>) => (r.status as string) === 'queued' && queued.has(r.hostId);
  const deadlineOf = (r: HostResult<D>) => (isQueued(r) ? { deadline: queued.get(r.hostId)! } : {});
  if (ctx.flags.json) {
    ctx.out(
      JSON.stringify({
        ...(report.task ? { task: report.task } : {}),
        selector: report.selector,
        ...(report.command === undefined ? {} : { command: report.command }),
        ok,
        total: report.results.length,
        ...(report.queued ? { queued: report.results.filter(isQueued).length } : {}),
        ...(report.stopped ? { stopped: report.stopped, notStarted: report.results.filter(notStarted).map((r) => r.hostId) } : {}),
        results: report.results.map((r) => ({ ...jsonResult(r, name(r)), ...report.json?.(r), ...deadlineOf(r) })),
      }),
    );
  } else {
    const columns = report.columns ?? [
      { header: 'EXIT', cell: (r: HostResult<D>) => (r.exitCode === undefined ? '-' : String(r.exitCode)) },
      { header: 'TIME', cell: (r: HostResult<D>) => duration(r.durationMs) },
    ];
    ctx.out(
      table(
        ['HOST', 'STATUS', ...columns.map((c) => c.header), 'DETAIL'],
        report.results.map((r) => [
          name(r),
          statusColor(r.status),
          ...columns.map((c) => c.cell(r)),
          r.error
            ? `${r.error.code}${r.error.detail ? `: ${r.error.detail}` : ''}`
            : isQueued(r)
              ? `until ${new Date(queued.get(r.hostId)!).toISOString()}`
              : (report.detail?.(r) ?? ''),
        ]),
      ),
    );
    const waiting = report.results.filter(isQueued).length;
    ctx.err(`${ok}/${report.results.length} ok${waiting ? ` · ${waiting} queued` : ''}${report.task ? ` · task ${report.task}` : ''}`);
    if (report.stopped) {
      const never = report.results.filter(notStarted).map(name);
      ctx.err(`stopped: ${report.stopped}; not started (${never.length}): ${never.join(', ')}`);
    }
  }
  if (ctx.signal?.aborted) return 130;
  // A queued host is not a failure: it runs the task when it comes back (flotilla queue list).
  return exitStatusOf(report.results.filter((r) => !isQueued(r)));
}

function notStarted(result: HostResult<object>): boolean {
  return result.status === 'cancelled' && (result.error?.detail?.startsWith('not started:') ?? false);
}

/** How the pipeline runs for this invocation: the rolling flags, Ctrl-C, each batch said on stderr. */
export function pipelineOptions<D extends object>(ctx: CommandContext, names?: ReadonlyMap<string, string>): PipelineOptions<D> {
  const rolling = parseRollingOptions({
    canary: str(ctx.flags['canary']),
    batch: str(ctx.flags['batch']),
    'batch-wait': str(ctx.flags['batch-wait']),
    'max-fail': str(ctx.flags['max-fail']),
  });
  return {
    rolling,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onBatch: (index, ids) => ctx.err(`batch ${index + 1}: ${ids.map((id) => names?.get(id) ?? id.slice(0, 8)).join(', ')}`),
  };
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** An error as the --json schema's error object. */
export function jsonError(error: unknown): { code: string; detail?: string; message: string } {
  const wire = toWireError(error);
  return { code: wire.code, ...(wire.detail ? { detail: wire.detail } : {}), message: error instanceof FlotillaError ? error.message : String(error) };
}

/**
 * Before the report of a command that lists things per host (ports, environment): one block per
 * host with data, its name on a line and then its table. Prints nothing with --json (the data
 * is in the report's results).
 */
export function printHostTables<D extends object>(
  ctx: CommandContext,
  report: Pick<TaskReport<D>, 'results' | 'names'>,
  header: string[],
  rows: (data: D) => string[][],
): void {
  if (ctx.flags.json) return;
  for (const r of report.results) {
    if (r.status !== 'ok' || !r.data) continue;
    const lines = rows(r.data);
    // The same heading as ps's per-host tables.
    ctx.out(color(1, `== ${report.names.get(r.hostId) ?? r.hostId.slice(0, 8)} (${lines.length})`));
    if (lines.length) ctx.out(table(header, lines));
    ctx.out('');
  }
}
