// flotilla run: a command on every host a selector matches, output streamed per host,
// then the report; exit status 1 when any host failed or was unreachable.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { execOnHost, newTaskId, type HostResult } from '../../shared/controller/operations.ts';
import { uniqueLabels } from '../../shared/controller/hosts.ts';
import { offlineResult, runPipeline, settledResult } from '../../shared/controller/task-pipeline.ts';
import { isRolling } from '../../shared/controller/rolling.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet } from '../../cli/src/fleet.ts';
import { color, createLinePrinter } from '../../cli/src/output.ts';
import { parseDuration } from '../../cli/src/duration.ts';
import { pipelineOptions, printReport } from '../../cli/src/report.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { shellWord } from '../../cli/src/cli-errors.ts';
import { noAnswer, whenExpired } from '../../cli/src/run-deadline.ts';
import { queueOptions, queueUnreachable, recordHistory } from '../../cli/src/run-store.ts';
import { createOutputCollector, drainingWriter, jsonOutputFields, truncationNotice, TRUNCATED_STATUS } from '../../cli/src/bounded-output.ts';

/**
 * One argument is a shell command line (`-- 'ls | wc -l'`); several are an argv, quoted so the
 * host runs exactly those words (`-- sh -c 'sleep 5'` stays three words, unlike ssh).
 */
export function commandText(words: string[]): string {
  if (words.length <= 1) return words[0] ?? '';
  return words.map(shellWord).join(' ');
}

async function runCommand(ctx: CommandContext): Promise<number> {
  const selector = ctx.args[0];
  const cmd = commandText(ctx.rest.length ? ctx.rest : ctx.args.slice(1));
  if (!selector || !cmd)
    throw new FlotillaError(
      'usage',
      `flotilla run needs a selector and a command, as in: flotilla run ${selector ? shellWord(selector) : "'web-*'"} -- uname -a`,
    );
  const env: Record<string, string> = {};
  for (const pair of ctx.flags.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new FlotillaError('usage', `--env "${pair}" must be NAME=value, as in --env LANG=C`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  // Checked before connecting: a mistyped --batch is a usage error, not a half-started run.
  const pipeline = pipelineOptions(ctx);
  const rolling = pipeline.rolling !== undefined && isRolling(pipeline.rolling);
  // --queue / --window: unreachable hosts get the task through the fleet's store (cli/src/run-store.ts).
  const queueing = queueOptions(ctx);
  const startedAt = Date.now();
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  const abort = new AbortController();
  const onSigint = () => {
    ctx.err('Cancelling… (again to quit)');
    if (abort.signal.aborted) process.exit(130);
    abort.abort();
  };
  // In warm mode the client watches its own Ctrl-C and a second one quits the client.
  const onCancel = () => {
    ctx.err('Cancelling… (again to quit)');
    abort.abort();
  };
  if (ctx.signal) ctx.signal.addEventListener('abort', onCancel, { once: true });
  else {
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
  }
  try {
    // Hosts this process already holds connections to (a control process) start at once;
    // the rest once presence has answered, as `resolve` decides (Fleet.resolveStaged).
    // A rolling run starts nothing before it knows every target (its batches are planned on them).
    const { early, all } = rolling ? { early: [], all: fleet.resolve(selector) } : await fleet.resolveStaged(selector);
    const task = ctx.flags.task ?? newTaskId();
    const names = uniqueLabels(early.map((t) => t.record));
    // Bounded: the printer waits for stdout to drain, --json keeps a capped amount per host.
    const printer = createLinePrinter(drainingWriter((t) => ctx.write(t)));
    const outputs = createOutputCollector();
    const spec = {
      task,
      cmd,
      ...(ctx.flags.timeout ? { timeoutMs: parseDuration(ctx.flags.timeout) } : {}),
      ...(ctx.flags.cwd ? { cwd: ctx.flags.cwd } : {}),
      ...(Object.keys(env).length ? { env } : {}),
      ...(ctx.flags.user ? { user: ctx.flags.user } : {}),
    };
    // Per host, so that an early host presence reports offline can be stopped alone.
    const hostAborts = new Map<string, AbortController>();
    const onAbort = () => hostAborts.forEach((c) => c.abort());
    abort.signal.addEventListener('abort', onAbort, { once: true });
    const finished = new Set<string>();
    let offlineEarly = new Set<string>();
    const runOn = (id: string): Promise<HostResult> => {
      const hostAbort = new AbortController();
      const started = performance.now();
      hostAborts.set(id, hostAbort);
      if (abort.signal.aborted) hostAbort.abort();
      // Given up on without waiting for the agent to confirm the cancel (it may be gone).
      const givenUp = new Promise<HostResult>((resolve) => {
        hostAbort.signal.addEventListener('abort', () => offlineEarly.has(id) && resolve(offlineResult(id)), { once: true });
        // --timeout plus its grace has passed: reported as not answering, and cancelled.
        whenExpired(ctx.deadline, () => {
          if (finished.has(id)) return;
          resolve(noAnswer(id, ctx.flags.timeout, performance.now() - started));
          hostAbort.abort();
        });
      });
      const running = execOnHost(
        fleet.controller,
        id,
        spec,
        (stream, bytes) => {
          if (ctx.flags.json) return outputs.add(id, stream, bytes);
          return printer.write(names.get(id) ?? id.slice(0, 8), stream, bytes);
        },
        { signal: hostAbort.signal, onNote: (note) => ctx.err(color(33, `${names.get(id) ?? id.slice(0, 8)}: ${note}`)) },
      ).then(async (result) => {
        finished.add(id);
        await printer.flush(names.get(id) ?? id.slice(0, 8));
        return result;
      });
      return Promise.race([running, givenUp]);
    };
    const earlyIds = new Set(early.map((t) => t.record.id));
    const earlyRun = fleet.controller.fanOut([...earlyIds], runOn);
    let targets: Awaited<typeof all>;
    try {
      targets = await all;
    } catch (error) {
      // A tag window is left for hosts that may not have enrolled yet.
      if (queueing?.window && error instanceof FlotillaError && error.code === 'no-match') targets = [];
      else {
        abort.abort();
        await earlyRun;
        throw error;
      }
    }
    for (const [id, label] of uniqueLabels(targets.map((t) => t.record))) if (!names.has(id)) names.set(id, label);
    // An early host that presence reports offline, and that has not answered over its
    // connection, is treated as it was before it started: unreachable (its connection is
    // likely dead and would take the ICE timeout to notice).
    offlineEarly = new Set(targets.filter((t) => !t.online && earlyIds.has(t.record.id) && !finished.has(t.record.id)).map((t) => t.record.id));
    for (const id of offlineEarly) hostAborts.get(id)?.abort();
    const offline = targets.filter((t) => !t.online && !earlyIds.has(t.record.id)).map((t) => offlineResult(t.record.id));
    const late = targets.filter((t) => t.online && !earlyIds.has(t.record.id)).map((t) => t.record.id);
    let results: HostResult[];
    let stopped: string | undefined;
    if (rolling) {
      const outcome = await runPipeline(
        fleet.controller,
        targets.map((t) => ({ id: t.record.id, online: t.online })),
        runOn,
        {
          ...pipeline,
          signal: abort.signal,
          onBatch: (index, ids) => ctx.err(`batch ${index + 1}: ${ids.map((id) => names.get(id) ?? id.slice(0, 8)).join(', ')}`),
        },
      );
      results = outcome.results;
      stopped = outcome.stopped;
    } else {
      const lateRun = fleet.controller.fanOut(late, runOn);
      const settled = [...(await earlyRun), ...(await lateRun)];
      results = [...settled.map(settledResult), ...offline];
    }
    abort.signal.removeEventListener('abort', onAbort);
    const queued = queueing
      ? await queueUnreachable(ctx, home, queueing, { task, request: { type: 'exec', ...spec }, summary: cmd.slice(0, 1024), selector }, results)
      : undefined;
    if (queued) results = queued.results;
    const code = printReport(ctx, {
      task,
      selector,
      command: cmd,
      results,
      names,
      ...(stopped ? { stopped } : {}),
      json: (r) => jsonOutputFields(outputs.get(r.hostId)),
      ...(queued ? { queued: queued.deadlines } : {}),
    });
    await recordHistory(ctx, home, { task, command: 'run', summary: cmd, selector, startedAt, results, names }, queued?.state);
    if (ctx.flags.json) {
      const notice = truncationNotice(results.filter((r) => outputs.get(r.hostId).truncated).map((r) => names.get(r.hostId) ?? r.hostId));
      if (notice) ctx.err(notice);
    }
    if (abort.signal.aborted) return 130;
    // Every host ok, but --json could not keep all of some host's output: a status of its own.
    return code === 0 && ctx.flags.json && results.some((r) => outputs.get(r.hostId).truncated) ? TRUNCATED_STATUS : code;
  } finally {
    ctx.signal?.removeEventListener('abort', onCancel);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    await fleet.close();
  }
}

/** The CLI commands of this capability (capabilities/exec/spec.ts declares their usage and options). */
export const commands = { run: runCommand };
