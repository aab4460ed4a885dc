// flotilla connect: warm mode. Starts this home's control process (or finds the running one),
// dials the selected hosts through it, and shows or stops it.

import { homeDir } from '../home-dir.ts';
import { parseDuration } from '../duration.ts';
import { askControl, forwardInvocation, startControlProcess } from '../control/client.ts';
import { duration, table } from '../output.ts';
import type { CommandContext } from './context.ts';
import { FlotillaError } from '../../../shared/wire/errors.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function connectCommand(ctx: CommandContext): Promise<number> {
  const home = homeDir();
  if (ctx.flags.status) {
    const answer = await askControl(home, 'status');
    if (answer?.type !== 'status') {
      ctx.err(`No control process for ${home}. Start one with \`flotilla connect\`.`);
      return 1;
    }
    const s = answer.status;
    if (ctx.flags.json) ctx.out(JSON.stringify(s));
    else {
      const left = s.active ? 'busy' : `exits in ${duration(Math.max(0, s.expiresAt - Date.now()))} unless used`;
      ctx.out(
        `Control process ${s.pid} for ${s.home}\nUp ${duration(Date.now() - s.startedAt)}, ${s.requests} request(s), ${s.active} running, ${left} (persist ${duration(s.persistMs)})\n${s.connections.length} open connection(s)`,
      );
      if (s.connections.length)
        ctx.out(
          table(
            ['HOST', 'ID'],
            s.connections.map((c) => [c.name, c.id.slice(0, 8)]),
          ),
        );
      if (s.terminals.length)
        ctx.out(
          `${s.terminals.length} terminal session(s) through it\n${table(
            ['HOST', 'SESSION'],
            s.terminals.map((t) => [t.host, t.session]),
          )}`,
        );
    }
    return 0;
  }
  if (ctx.flags.stop) {
    const answer = await askControl(home, 'stop');
    if (answer?.type !== 'bye') {
      ctx.out(`No control process was running for ${home}.`);
      return 0;
    }
    for (let i = 0; i < 100 && (await askControl(home, 'status')); i++) await sleep(50);
    ctx.out(`Stopped the control process for ${home}.`);
    return 0;
  }
  const persistMs = parseDuration(ctx.flags.persist ?? process.env['FLOTILLA_PERSIST'] ?? '10m');
  if (persistMs <= 0) throw new FlotillaError('usage', '--persist must be longer than 0, as in: flotilla connect --persist 10m');
  const running = await askControl(home, 'status');
  if (running?.type !== 'status') await startControlProcess(home, persistMs, process.argv[1] ?? 'flotilla');
  else if (ctx.flags.persist)
    ctx.err(`A control process (${running.status.pid}) already runs with persist ${duration(running.status.persistMs)}; stop it to change that.`);
  // Dial the hosts now, so the next command finds them connected.
  const argv = [
    'ping',
    ctx.args[0] ?? '*',
    ...(ctx.flags.json ? ['--json'] : []),
    ...(ctx.fleetOptions.forks ? ['--forks', String(ctx.fleetOptions.forks)] : []),
  ];
  const code = await forwardInvocation(home, argv);
  if (code === undefined) throw new FlotillaError('bad-config', `the control process for ${home} stopped answering`);
  return code;
}
