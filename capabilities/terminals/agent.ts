// terminals on the agent: the running terminal sessions (capabilities/terminal/sessions.ts),
// the device's own, or all of them for an admin.
import type { Handler } from '../../agent/src/task-context.ts';
import { sessions } from '../terminal/sessions.ts';
import type { spec, TerminalSessionInfo } from './spec.ts';

export const handler: Handler<typeof spec> = (_request, ctx) => {
  const list: TerminalSessionInfo[] = [];
  for (const s of sessions.values()) {
    if (s.info.device !== ctx.device.id && ctx.device.role !== 'admin') continue;
    list.push({
      session: s.info.id,
      device: s.info.device,
      ...(s.info.deviceName ? { deviceName: s.info.deviceName } : {}),
      user: s.info.user,
      ...(s.info.command === undefined ? {} : { command: s.info.command.slice(0, 4096) }),
      pid: s.pid,
      cols: s.cols,
      rows: s.rows,
      startedAt: s.info.startedAt,
      activeAt: s.activeAt,
      attached: s.attached,
      offset: s.ring.end,
      ...(s.expiresAt === undefined ? {} : { expiresAt: s.expiresAt }),
    });
  }
  return Promise.resolve({ status: 'ok', data: { sessions: list } });
};
