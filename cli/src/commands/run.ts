// flotilla run: a command on every host a selector matches, output streamed per host,
// then a summary; exit status 1 when any host failed or was unreachable.

import { FlotillaError } from '../../../shared/errors.ts';
import { execOnHost, newTaskId, type HostResult } from '../../../shared/operations.ts';
import { uniqueLabels } from '../../../shared/hosts.ts';
import { openHome } from '../home.ts';
import { openFleet } from '../fleet.ts';
import { color, createLinePrinter, duration, statusColor, table } from '../output.ts';
import { createOutputCollector, drainingWriter, jsonOutputFields, truncationNotice, TRUNCATED_STATUS } from '../bounded-output.ts';
import { parseDuration } from './admin.ts';
import type { CommandContext } from './context.ts';

/**
 * One argument is a shell command line (`-- 'ls | wc -l'`); several are an argv, quoted so the
 * host runs exactly those words (`-- sh -c 'sleep 5'` stays three words, unlike ssh).
 */
export function commandText(words: string[]): string {
  if (words.length <= 1) return words[0] ?? '';
  return words.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export async function runCommand(ctx: CommandContext): Promise<number> {
  const selector = ctx.args[0];
  const cmd = commandText(ctx.rest.length ? ctx.rest : ctx.args.slice(1));
  if (!selector || !cmd) throw new FlotillaError('bad-config', 'usage: flotilla run <selector> [--timeout 30s] [--json] -- <command…>');
  const env: Record<string, string> = {};
  for (const pair of ctx.flags.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new FlotillaError('bad-config', `--env "${pair}" must be NAME=value`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
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
    const { early, all } = await fleet.resolveStaged(selector);
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
    const offlineResult = (hostId: string): HostResult => ({ hostId, status: 'unreachable', durationMs: 0, error: { code: 'unreachable', detail: 'offline according to the signaling server' } });
    // Per host, so that an early host presence reports offline can be stopped alone.
    const hostAborts = new Map<string, AbortController>();
    const onAbort = () => hostAborts.forEach((c) => c.abort());
    abort.signal.addEventListener('abort', onAbort, { once: true });
    const finished = new Set<string>();
    let offlineEarly = new Set<string>();
    const runOn = (id: string): Promise<HostResult> => {
      const hostAbort = new AbortController();
      hostAborts.set(id, hostAbort);
      if (abort.signal.aborted) hostAbort.abort();
      // Given up on without waiting for the agent to confirm the cancel (it may be gone).
      const givenUp = new Promise<HostResult>((resolve) => hostAbort.signal.addEventListener('abort', () => offlineEarly.has(id) && resolve(offlineResult(id)), { once: true }));
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
      abort.abort();
      await earlyRun;
      throw error;
    }
    for (const [id, label] of uniqueLabels(targets.map((t) => t.record))) if (!names.has(id)) names.set(id, label);
    // An early host that presence reports offline, and that has not answered over its
    // connection, is treated as it was before it started: unreachable (its connection is
    // likely dead and would take the ICE timeout to notice).
    offlineEarly = new Set(targets.filter((t) => !t.online && earlyIds.has(t.record.id) && !finished.has(t.record.id)).map((t) => t.record.id));
    for (const id of offlineEarly) hostAborts.get(id)?.abort();
    const offline = targets.filter((t) => !t.online && !earlyIds.has(t.record.id)).map((t) => offlineResult(t.record.id));
    const late = targets.filter((t) => t.online && !earlyIds.has(t.record.id)).map((t) => t.record.id);
    const lateRun = fleet.controller.fanOut(late, runOn);
    const settled = [...(await earlyRun), ...(await lateRun)];
    abort.signal.removeEventListener('abort', onAbort);
    const results = [...settled.map((s) => (s.ok ? s.value : ({ hostId: s.hostId, status: 'failed', durationMs: 0, error: { code: s.error.code, detail: s.error.message } } as HostResult))), ...offline];
    if (ctx.flags.json) {
      ctx.out(
        JSON.stringify({
          task,
          selector,
          command: cmd,
          results: results.map((r) => ({ host: names.get(r.hostId), id: r.hostId, status: r.status, exitCode: r.exitCode ?? null, durationMs: r.durationMs, ...jsonOutputFields(outputs.get(r.hostId)), error: r.error ?? null })),
        }),
      );
      const notice = truncationNotice(results.filter((r) => outputs.get(r.hostId).truncated).map((r) => names.get(r.hostId) ?? r.hostId));
      if (notice) ctx.err(notice);
    } else {
      ctx.err('');
      ctx.err(
        table(
          ['HOST', 'STATUS', 'EXIT', 'TIME', 'ERROR'],
          results.map((r) => [names.get(r.hostId) ?? r.hostId.slice(0, 8), statusColor(r.status), r.exitCode === undefined ? '-' : String(r.exitCode), duration(r.durationMs), r.error ? `${r.error.code}${r.error.detail ? `: ${r.error.detail}` : ''}` : '']),
        ),
      );
      const ok = results.filter((r) => r.status === 'ok').length;
      ctx.err(`${ok}/${results.length} ok · task ${task}`);
    }
    if (abort.signal.aborted) return 130;
    if (!results.every((r) => r.status === 'ok')) return 1;
    return ctx.flags.json && results.some((r) => outputs.get(r.hostId).truncated) ? TRUNCATED_STATUS : 0;
  } finally {
    ctx.signal?.removeEventListener('abort', onCancel);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    await fleet.close();
  }
}
