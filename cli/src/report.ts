// The end of every selector command: one --json schema for all of them, or a table on stdout
// and a one-line summary on stderr. The exit status is 0 only when every host is ok.

import { toWireError, FlotillaError, fromWireError } from '../../shared/errors.ts';
import { exitStatusOf } from '../../shared/task-pipeline.ts';
import type { HostResult } from '../../shared/operations.ts';
import { duration, statusColor, table } from './output.ts';
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
  /** Extra columns of the table, with a cell per result. */
  columns?: { header: string; cell: (result: HostResult<D>) => string }[];
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
    error: result.error ? { code: result.error.code, message: errorText(result) } : null,
    ...(result.data ? { data: result.data } : {}),
  };
}

/** Prints the report; returns the exit status (0 every host ok, 1 otherwise, 130 cancelled). */
export function printReport<D extends object>(ctx: CommandContext, report: TaskReport<D>): number {
  const name = (r: HostResult<D>) => report.names.get(r.hostId) ?? r.hostId.slice(0, 8);
  const ok = report.results.filter((r) => r.status === 'ok').length;
  if (ctx.flags.json) {
    ctx.out(
      JSON.stringify({
        ...(report.task ? { task: report.task } : {}),
        selector: report.selector,
        ...(report.command === undefined ? {} : { command: report.command }),
        ok,
        total: report.results.length,
        results: report.results.map((r) => ({ ...jsonResult(r, name(r)), ...report.json?.(r) })),
      }),
    );
  } else {
    const extra = report.columns ?? [];
    ctx.out(
      table(
        ['HOST', 'STATUS', 'EXIT', 'TIME', ...extra.map((c) => c.header), 'DETAIL'],
        report.results.map((r) => [
          name(r),
          statusColor(r.status),
          r.exitCode === undefined ? '-' : String(r.exitCode),
          duration(r.durationMs),
          ...extra.map((c) => c.cell(r)),
          r.error ? `${r.error.code}${r.error.detail ? `: ${r.error.detail}` : ''}` : (report.detail?.(r) ?? ''),
        ]),
      ),
    );
    ctx.err(`${ok}/${report.results.length} ok${report.task ? ` · task ${report.task}` : ''}`);
  }
  if (ctx.signal?.aborted) return 130;
  return exitStatusOf(report.results);
}

/** An error as the --json schema's error object. */
export function jsonError(error: unknown): { code: string; message: string } {
  const wire = toWireError(error);
  return { code: wire.code, message: error instanceof FlotillaError ? error.message : String(error) };
}

/**
 * Before the report of a command that lists things per host (ports, environment): one block per
 * host with data, its name on a line and then its table. Prints nothing with --json (the data
 * is in the report's results).
 */
export function printHostTables<D extends object>(ctx: CommandContext, report: Pick<TaskReport<D>, 'results' | 'names'>, header: string[], rows: (data: D) => string[][]): void {
  if (ctx.flags.json) return;
  for (const r of report.results) {
    if (r.status !== 'ok' || !r.data) continue;
    const lines = rows(r.data);
    ctx.out(`── ${report.names.get(r.hostId) ?? r.hostId.slice(0, 8)} (${lines.length})`);
    if (lines.length) ctx.out(table(header, lines));
    ctx.out('');
  }
}
