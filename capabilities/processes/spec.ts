// processes: the host's process table (pid, parent, user, command line, state, CPU, memory,
// start time), and a signal sent to one process. Listing needs viewer; signals need operator.
import { defineCapability } from '../spec.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { int, isObj, oneOf, optInt, optional, optStr, str, type Obj } from '../../shared/wire/validate.ts';

/** Signals an operator may send, by name (without SIG). */
export const SIGNALS = ['TERM', 'KILL', 'HUP', 'INT', 'QUIT', 'USR1', 'USR2', 'STOP', 'CONT'] as const;
export type SignalName = (typeof SIGNALS)[number];
/** Orders of the list. */
export const SORTS = ['cpu', 'mem', 'pid'] as const;
/** Most processes one answer carries (the busiest first, after filtering). */
export const MAX_PROCESSES = 2000;

/** One process as the agent reports it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  user: string;
  /** The command line (arguments joined by spaces), or [name] for kernel threads. */
  command: string;
  /** R running, S sleeping, D disk wait, Z zombie, T stopped, I idle… (the kernel's letter). */
  state: string;
  /** CPU time over the process's life, as `ps` shows it: 100 is one core. */
  cpu: number;
  rssBytes: number;
  /** When it started, in ms since the epoch. */
  startedAt: number;
}

function parseProcess(raw: unknown, i: number): ProcessInfo {
  if (!isObj(raw)) throw new FlotillaError('bad-message', `processes[${i}]: expected an object`);
  const cpu = raw['cpu'];
  if (typeof cpu !== 'number' || !Number.isFinite(cpu) || cpu < 0) throw new FlotillaError('bad-message', `processes[${i}].cpu: expected a number`);
  return {
    pid: int(raw, 'pid', 0),
    ppid: int(raw, 'ppid', 0),
    user: str(raw, 'user', 64),
    command: str(raw, 'command', 4096),
    state: str(raw, 'state', 4),
    cpu,
    rssBytes: int(raw, 'rssBytes', 0),
    startedAt: int(raw, 'startedAt', 0),
  };
}

export type ProcessesRequest =
  { action: 'list'; sort?: (typeof SORTS)[number]; user?: string; grep?: string } | { action: 'signal'; pid: number; signal: SignalName };

export type ProcessesResult = { kind: 'list'; processes: ProcessInfo[]; total: number } | { kind: 'signal'; pid: number; signal: SignalName };

export const spec = defineCapability({
  name: 'processes',
  doc: 'list processes (pid, parent, user, command line, state, CPU, memory, start); send a signal to one',
  request: {
    type: 'processes',
    parse: (o): ProcessesRequest =>
      oneOf(o, 'action', ['list', 'signal'] as const) === 'list'
        ? {
            action: 'list',
            ...optional('sort', o['sort'] === undefined ? undefined : oneOf(o, 'sort', SORTS)),
            ...optional('user', optStr(o, 'user', 64)),
            ...optional('grep', optStr(o, 'grep', 256)),
          }
        : { action: 'signal', pid: int(o, 'pid', 1, 2 ** 22), signal: oneOf(o, 'signal', SIGNALS) },
  },
  result: (d: Obj): ProcessesResult => {
    if (d['processes'] === undefined) return { kind: 'signal', pid: int(d, 'pid', 1), signal: oneOf(d, 'signal', SIGNALS) };
    const list = d['processes'];
    if (!Array.isArray(list) || list.length > MAX_PROCESSES) throw new FlotillaError('bad-message', `processes: expected a list of at most ${MAX_PROCESSES}`);
    return { kind: 'list', processes: list.map(parseProcess), total: optInt(d, 'total') ?? list.length };
  },
  role: (r) => (r.action === 'list' ? 'viewer' : 'operator'),
  traits: { audit: (r) => (r.action === 'signal' ? `SIG${r.signal} ${r.pid}` : 'list') },
  cli: [
    {
      name: 'ps',
      usage: ['ps <selector> [--sort cpu|mem|pid] [--user U] [--grep TEXT]', 'processes per host, busiest first'],
      options: { sort: { type: 'string' }, grep: { type: 'string' } },
      warm: true,
    },
    { name: 'kill', usage: ['kill <selector> <pid> [--signal TERM]', 'send a signal to a process (refuses pid 1 and the agent)'], warm: true },
  ],
  web: { hostTab: { label: 'Processes', order: 10 } },
});
