// flotilla recordings <host>: the recorded terminal sessions of one host; --play ID shows one in
// this terminal at its own pace (--speed, pauses cut to a second), --raw prints its .cast file.

import { FlotillaError, fromWireError } from '../../shared/wire/errors.ts';
import { call } from '../../shared/controller/agent-connection.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleet, selectTargets } from '../../cli/src/fleet.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { RECORDING_ID, spec, type RecordingInfo } from './spec.ts';
import { parseCast, playCast } from './cast.ts';

function when(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

function table(ctx: CommandContext, list: RecordingInfo[]): void {
  if (!list.length) return ctx.out('No recordings.');
  const rows = list.map((r) => [
    r.id,
    when(r.startedAt),
    r.endedAt === undefined ? 'running' : `${Math.round((r.endedAt - r.startedAt) / 1000)}s`,
    r.user,
    r.deviceName ?? r.device.slice(0, 8),
    `${(r.size / 1024).toFixed(0)} KiB${r.truncated ? ' (cut)' : ''}`,
    r.command ?? '(login shell)',
  ]);
  const header = ['ID', 'STARTED', 'LENGTH', 'USER', 'DEVICE', 'SIZE', 'COMMAND'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows]) ctx.out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

async function recordingsCommand(ctx: CommandContext): Promise<number> {
  const [selector, ...extra] = ctx.args;
  if (!selector || extra.length || ctx.rest.length)
    throw new FlotillaError('usage', 'flotilla recordings takes one host, as in: flotilla recordings web-1 [--play ID] [--speed 2] [--raw]');
  const id = typeof ctx.flags['play'] === 'string' ? ctx.flags['play'] : undefined;
  if (id !== undefined && !RECORDING_ID.test(id))
    throw new FlotillaError('usage', `--play takes a recording id from the list, as in: flotilla recordings ${selector}`);
  const speedText = typeof ctx.flags['speed'] === 'string' ? ctx.flags['speed'] : '1';
  const speed = Number(speedText);
  if (!Number.isFinite(speed) || speed <= 0 || speed > 1000) throw new FlotillaError('usage', '--speed takes a number above 0, as in --speed 2');
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  try {
    const { targets, names } = await selectTargets(fleet, selector);
    if (targets.length !== 1) throw new FlotillaError('usage', `"${selector}" matches ${targets.length} hosts; flotilla recordings takes one host`);
    const target = targets[0]!;
    if (!target.online) throw new FlotillaError('unreachable', `${names.get(target.id) ?? target.id.slice(0, 8)} is offline`);
    const connection = await fleet.controller.connect(target.id);
    if (id === undefined) {
      const result = await call(connection, spec, { action: 'list' });
      if (result.status !== 'ok' || result.data?.kind !== 'list')
        throw result.error ? fromWireError(result.error) : new FlotillaError('internal', `status ${result.status}`);
      if (ctx.flags.json) ctx.out(JSON.stringify({ host: names.get(target.id) ?? target.id, recordings: result.data.recordings }));
      else table(ctx, result.data.recordings);
      return 0;
    }
    const chunks: Buffer[] = [];
    let expected = 0;
    const result = await call(
      connection,
      spec,
      { action: 'get', recording: id },
      {
        onEvent: (event, bytes) => {
          if (event.type !== 'recording.chunk') return;
          if (event.offset !== expected) throw new FlotillaError('bad-message', `recording chunk at ${event.offset}, expected ${expected}`);
          chunks.push(Buffer.from(bytes));
          expected += bytes.length;
        },
      },
    );
    if (result.status !== 'ok') throw result.error ? fromWireError(result.error) : new FlotillaError('internal', `status ${result.status}`);
    const cast = Buffer.concat(chunks);
    const write = (text: string | Buffer) => new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
    if (ctx.flags['raw'] === true) await write(cast);
    else await playCast(parseCast(cast.toString('utf8')).events, { speed, write });
    return 0;
  } finally {
    await fleet.close();
  }
}

/** The CLI commands of this capability (capabilities/recordings/spec.ts declares their usage and options). */
export const commands = { recordings: recordingsCommand };
