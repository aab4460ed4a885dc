// flotilla logs: the last lines of a file or a unit's journal on every host a selector matches,
// each line prefixed by its host; with -f, new lines as they come until Ctrl-C or --timeout.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { call } from '../../shared/controller/agent-connection.ts';
import { runPipeline } from '../../shared/controller/task-pipeline.ts';
import type { HostResult } from '../../shared/controller/operations.ts';
import type { DataOf } from '../spec.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet, selectTargets } from '../../cli/src/fleet.ts';
import { createLinePrinter } from '../../cli/src/output.ts';
import { parseDuration } from '../../cli/src/duration.ts';
import { pipelineOptions, printReport } from '../../cli/src/report.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { DEFAULT_LINES, MAX_LINES, parseSource, spec } from './spec.ts';

type Data = DataOf<typeof spec>;

const EXAMPLE = "as in: flotilla logs 'web-*' /var/log/syslog -n 50 -f";

/** The request a command line asks for; mistakes are usage errors, before any dial. */
export function parseLogsArgs(args: readonly string[], flags: { lines?: string | undefined; follow?: boolean | undefined }) {
  const [selector, source, ...extra] = args;
  if (!selector || !source || extra.length) throw new FlotillaError('usage', `flotilla logs needs a selector and one file or unit:NAME, ${EXAMPLE}`);
  try {
    parseSource(source);
  } catch (error) {
    throw new FlotillaError('usage', `${error instanceof FlotillaError ? (error.detail ?? error.message) : String(error)}, ${EXAMPLE}`);
  }
  const lines = flags.lines === undefined ? DEFAULT_LINES : Number(flags.lines);
  if (!Number.isInteger(lines) || lines < 1 || lines > MAX_LINES)
    throw new FlotillaError('usage', `-n takes a number of lines from 1 to ${MAX_LINES}, as in -n 100`);
  return { selector, body: { source, lines, ...(flags.follow ? { follow: true } : {}) } };
}

/** The DETAIL column of a host's ok result. */
function detail(data: Data | undefined): string {
  if (!data) return '';
  const parts = [`${data.lines} ${data.lines === 1 ? 'line' : 'lines'}${data.cut ? ' (cut at 4 MiB)' : ''}`];
  if (data.follow) parts.push(`followed, ${data.bytes} bytes in all`);
  if (data.droppedBytes) parts.push(`${data.droppedBytes} bytes dropped`);
  if (data.truncations) parts.push(`truncated ${data.truncations}×`);
  if (data.rotations) parts.push(`rotated ${data.rotations}×`);
  return parts.join(', ');
}

async function logsCommand(ctx: CommandContext): Promise<number> {
  const lines = ctx.flags['lines'];
  const follow = ctx.flags['follow'];
  const { selector, body } = parseLogsArgs([...ctx.args, ...ctx.rest], { lines: typeof lines === 'string' ? lines : undefined, follow: follow === true });
  pipelineOptions<Data>(ctx); // checked before connecting: a mistyped --batch is a usage error
  // --timeout bounds the whole invocation (cli/src/deadline.ts): a follow stops a little before
  // it, so the agents' results and the report still come within the bound.
  const boundMs = ctx.flags.timeout ? parseDuration(ctx.flags.timeout) : undefined;
  const timeoutMs = boundMs === undefined ? undefined : body.follow ? boundMs - Math.min(1500, boundMs / 4) : undefined;
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  // Ctrl-C (or --timeout) ends a follow: the agents are told to stop, and each answers its result.
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(130);
    if (!ctx.flags.json) ctx.err(body.follow ? 'Stopping… (again to quit)' : 'Cancelling… (again to quit)');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => abort.abort(), timeoutMs);
  try {
    const { names, targets } = await selectTargets(fleet, selector);
    const printer = createLinePrinter(ctx.flags.json ? () => undefined : (t) => ctx.write(t));
    const collected = new Map<string, { stdout: string; stderr: string }>();
    const name = (id: string) => names.get(id) ?? id.slice(0, 8);
    const { results, stopped } = await runPipeline<Data>(
      fleet.controller,
      targets,
      async (id): Promise<HostResult<Data>> => {
        const t0 = performance.now();
        const connection = await fleet.controller.connect(id);
        if (abort.signal.aborted) throw new FlotillaError('cancelled', 'stopped before the request was sent');
        const decoder = { stdout: new TextDecoder(), stderr: new TextDecoder() };
        // Lines are printed in arrival order; each write resolves once stdout has taken it.
        let printing = Promise.resolve();
        const result = await call(connection, spec, body, {
          signal: abort.signal,
          onEvent: (event, bytes) => {
            if (event.type !== 'output') return;
            const stream = event.stream;
            printing = printing.then(() => printer.write(name(id), stream, bytes));
            if (ctx.flags.json) {
              const text = collected.get(id) ?? { stdout: '', stderr: '' };
              text[event.stream] += decoder[event.stream].decode(bytes, { stream: true });
              collected.set(id, text);
            }
          },
        });
        await printing;
        await printer.flush(name(id));
        return {
          hostId: id,
          status: result.status,
          ...(result.exitCode === undefined ? {} : { exitCode: result.exitCode }),
          ...(result.error ? { error: result.error } : {}),
          ...(result.data ? { data: result.data } : {}),
          durationMs: result.durationMs ?? Math.round(performance.now() - t0),
        };
      },
      pipelineOptions<Data>(ctx, names),
    );
    const lines = (text: string | undefined) => (text ? text.replace(/\n$/, '').split('\n') : []);
    return printReport(ctx, {
      selector,
      command: `logs ${body.source}${body.follow ? ' -f' : ''}`,
      results,
      names,
      ...(stopped ? { stopped } : {}),
      detail: (r) => detail(r.data),
      json: (r) => ({ lines: lines(collected.get(r.hostId)?.stdout), notices: lines(collected.get(r.hostId)?.stderr) }),
    });
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    await fleet.close();
  }
}

/** The CLI commands of this capability (capabilities/logs/spec.ts declares their usage and options). */
export const commands = { logs: logsCommand };
