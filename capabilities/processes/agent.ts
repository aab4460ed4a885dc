// processes on the agent: the table from /proc, filtered and sorted here so that only what the
// controller shows crosses the wire; signals refused for pid 1 and the agent itself.

import { FlotillaError } from '../../shared/wire/errors.ts';
import type { Handler } from '../../agent/src/task-context.ts';
import { MAX_PROCESSES, type ProcessInfo, type spec } from './spec.ts';
import { readProcesses } from './proc-table.ts';

const ORDER: Record<'cpu' | 'mem' | 'pid', (a: ProcessInfo, b: ProcessInfo) => number> = {
  cpu: (a, b) => b.cpu - a.cpu || b.rssBytes - a.rssBytes,
  mem: (a, b) => b.rssBytes - a.rssBytes || b.cpu - a.cpu,
  pid: (a, b) => a.pid - b.pid,
};

export const handler: Handler<typeof spec> = async (request) => {
  if (request.action === 'list') {
    const grep = request.grep?.toLowerCase();
    const all = (await readProcesses())
      .filter((p) => (!request.user || p.user === request.user) && (!grep || p.command.toLowerCase().includes(grep)))
      .sort(ORDER[request.sort ?? 'cpu']);
    return { status: 'ok', data: { kind: 'list', processes: all.slice(0, MAX_PROCESSES), total: all.length } };
  }
  const { pid, signal } = request;
  if (pid === 1) throw new FlotillaError('policy-refused', 'pid 1 is the init process; signalling it could stop the whole host');
  if (pid === process.pid) throw new FlotillaError('policy-refused', `pid ${pid} is the Flotilla agent itself; stop it with its service manager`);
  try {
    process.kill(pid, `SIG${signal}`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') throw new FlotillaError('not-found', `no process ${pid} on this host`);
    if (code === 'EPERM') throw new FlotillaError('policy-refused', `the agent may not signal process ${pid} (it runs as another user)`);
    throw new FlotillaError('internal', `kill ${pid}: ${code ?? (error as Error).message}`);
  }
  return { status: 'ok', data: { kind: 'signal', pid, signal } };
};
