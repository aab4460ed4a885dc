// terminals: the terminal sessions running on the host (capabilities/terminal), for a client to
// list and reattach to. An operator sees its own device's sessions; an admin sees all.
import { defineCapability } from '../spec.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { bool, int, isObj, optional, optStr, str, type Obj } from '../../shared/wire/validate.ts';
import { MAX_COLS, MAX_ROWS, SESSION_ID_MAX } from '../terminal/spec.ts';

/** Most sessions an agent runs at once (and so lists). */
export const MAX_TERMINAL_SESSIONS = 64;

/** One running session. */
export interface TerminalSessionInfo {
  session: string;
  /** The device that opened it (its id, and name when the certificate has one). */
  device: string;
  deviceName?: string;
  user: string;
  /** The command, absent for a login shell. */
  command?: string;
  pid: number;
  cols: number;
  rows: number;
  /** ms since the epoch. */
  startedAt: number;
  /** Last input or output, ms since the epoch. */
  activeAt: number;
  /** A client is attached now. */
  attached: boolean;
  /** Bytes of output so far: reattach with `from` at most this. */
  offset: number;
  /** With no client attached: when the agent ends it (ms since the epoch). */
  expiresAt?: number;
}

function parseSession(raw: unknown, i: number): TerminalSessionInfo {
  if (!isObj(raw)) throw new FlotillaError('bad-message', `sessions[${i}]: expected an object`);
  const o: Obj = raw;
  return {
    session: str(o, 'session', SESSION_ID_MAX, 1),
    device: str(o, 'device', 128),
    ...optional('deviceName', optStr(o, 'deviceName', 256)),
    user: str(o, 'user', 64),
    ...optional('command', optStr(o, 'command', 4096)),
    pid: int(o, 'pid', 0),
    cols: int(o, 'cols', 1, MAX_COLS),
    rows: int(o, 'rows', 1, MAX_ROWS),
    startedAt: int(o, 'startedAt', 0),
    activeAt: int(o, 'activeAt', 0),
    attached: bool(o, 'attached'),
    offset: int(o, 'offset', 0),
    ...optional('expiresAt', o['expiresAt'] === undefined ? undefined : int(o, 'expiresAt', 0)),
  };
}

export const spec = defineCapability({
  name: 'terminals',
  doc: 'list the terminal sessions running on the host (own device, or all for an admin): id, user, command, size, attached, output offset',
  request: { type: 'terminal.list', parse: () => ({}) },
  result: (d) => {
    const list = d['sessions'];
    if (!Array.isArray(list) || list.length > MAX_TERMINAL_SESSIONS)
      throw new FlotillaError('bad-message', `sessions: expected a list of at most ${MAX_TERMINAL_SESSIONS}`);
    return { sessions: list.map(parseSession) };
  },
  role: 'operator',
});
