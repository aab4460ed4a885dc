// flotilla shell: an interactive terminal on one host (runShellSession, shell-session.ts: raw
// mode, resize, exit status, `~.`, piped stdin, reattach after a drop), on this process's own
// stdin and stdout, or in a control process (warm mode) on the client's; and `--list`.

import { FlotillaError, fromWireError } from '../../shared/wire/errors.ts';
import { call, type AgentConnection } from '../../shared/controller/agent-connection.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet, selectTargets, type Fleet } from '../../cli/src/fleet.ts';
import { shellWord } from '../../cli/src/cli-errors.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { currentScope } from '../../cli/src/control/scope.ts';
import { spec as terminals, type TerminalSessionInfo } from '../terminals/spec.ts';
import { processTerminal } from './local-terminal.ts';
import { runShellSession } from './shell-session.ts';

/** The command line `flotilla shell host -- words…` asks for: one word is a shell line, several are exact words. */
export function commandOf(rest: readonly string[]): string | undefined {
  if (rest.length === 0) return undefined;
  return rest.length === 1 ? rest[0] : rest.map(shellWord).join(' ');
}

async function oneHost(fleet: Fleet, selector: string): Promise<{ id: string; name: string }> {
  const { targets, names } = await selectTargets(fleet, selector);
  if (targets.length !== 1)
    throw new FlotillaError(
      'usage',
      targets.length === 0
        ? `"${selector}" matches no accepted host; flotilla shell takes one host, as in: flotilla shell web-1`
        : `"${selector}" matches ${targets.length} hosts (${[...names.values()].slice(0, 5).join(', ')}…); flotilla shell takes one host`,
    );
  const target = targets[0]!;
  const name = names.get(target.id) ?? target.id.slice(0, 8);
  if (!target.online) throw new FlotillaError('unreachable', `${name} is offline`);
  return { id: target.id, name };
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

async function listSessions(ctx: CommandContext, connection: AgentConnection): Promise<number> {
  const result = await call(connection, terminals, {});
  if (result.status !== 'ok' || !result.data) throw result.error ? fromWireError(result.error) : new FlotillaError('internal', `status ${result.status}`);
  const list: TerminalSessionInfo[] = result.data.sessions;
  if (ctx.flags.json) {
    ctx.out(JSON.stringify(list));
    return 0;
  }
  if (!list.length) {
    ctx.out('No terminal sessions.');
    return 0;
  }
  const now = Date.now();
  const rows = list.map((s) => [
    s.session,
    s.user,
    s.attached ? 'attached' : s.expiresAt ? `detached, ends in ${ago(s.expiresAt - now)}` : 'detached',
    `${s.cols}x${s.rows}`,
    ago(now - s.startedAt),
    s.deviceName ?? s.device.slice(0, 8),
    s.command ?? '(login shell)',
  ]);
  const header = ['SESSION', 'USER', 'STATE', 'SIZE', 'AGE', 'DEVICE', 'COMMAND'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows]) ctx.out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  return 0;
}

async function shellCommand(ctx: CommandContext): Promise<number> {
  const [selector, ...extra] = ctx.args;
  if (!selector || extra.length)
    throw new FlotillaError('usage', 'flotilla shell takes one host, and the command after --, as in: flotilla shell web-1 or flotilla shell web-1 -- top');
  const user = typeof ctx.flags['user'] === 'string' ? ctx.flags['user'] : undefined;
  const attach = typeof ctx.flags['attach'] === 'string' ? ctx.flags['attach'] : undefined;
  if (attach !== undefined && ctx.rest.length) throw new FlotillaError('usage', '--attach reattaches to a running session; it takes no command');
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  try {
    const host = await oneHost(fleet, selector);
    const connection = await fleet.controller.connect(host.id);
    if (ctx.flags['list'] === true) return await listSessions(ctx, connection);
    // In a control process the terminal is the warm client's, relayed over the control socket.
    const terminal = currentScope()?.terminal ?? processTerminal();
    return await runShellSession({
      host,
      selector,
      connection,
      reconnect: () => fleet.controller.connect(host.id),
      command: commandOf(ctx.rest),
      user,
      attach,
      terminal,
      err: ctx.err,
    });
  } finally {
    await fleet.close();
  }
}

/** The CLI commands of this capability (capabilities/terminal/spec.ts declares their usage and options). */
export const commands = { shell: shellCommand };
