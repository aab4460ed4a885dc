// ports: the host's listening TCP and UDP sockets (IPv4 and IPv6) with the process that owns each.
import { defineCapability } from '../spec.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { int, isObj, oneOf, optBool, optional, str, type Obj } from '../../shared/wire/validate.ts';
import { PROTOCOLS } from './proc-net.ts';

/** Most sockets one answer carries; a host with more says `truncated`. */
export const MAX_SOCKETS = 5000;

/** One listening socket as the controller sees it; pid and program are null when no process we can see holds it. */
export interface PortEntry {
  protocol: (typeof PROTOCOLS)[number];
  address: string;
  port: number;
  pid: number | null;
  program: string | null;
  uid: number;
  /** The socket's inode: unique per socket (two sockets can share address and port with SO_REUSEPORT). */
  inode: number;
}

function entry(o: Obj): PortEntry {
  return {
    protocol: oneOf(o, 'protocol', PROTOCOLS),
    address: str(o, 'address', 64, 1),
    port: int(o, 'port', 0, 65535),
    pid: o['pid'] === null ? null : int(o, 'pid', 1),
    program: o['program'] === null ? null : str(o, 'program', 64),
    uid: int(o, 'uid'),
    inode: int(o, 'inode'),
  };
}

export const spec = defineCapability({
  name: 'ports',
  doc: 'listening TCP and UDP sockets (IPv4 and IPv6) with address, port and the owning pid and program',
  request: { type: 'ports', parse: () => ({}) },
  result: (d) => {
    const list = d['sockets'];
    if (!Array.isArray(list) || list.length > MAX_SOCKETS) throw new FlotillaError('bad-message', `sockets: expected a list of at most ${MAX_SOCKETS}`);
    return {
      sockets: list.map((s, i) => {
        if (!isObj(s)) throw new FlotillaError('bad-message', `sockets[${i}]: expected an object`);
        return entry(s);
      }),
      ...optional('truncated', optBool(d, 'truncated')),
    };
  },
  role: 'viewer',
  cli: [{ name: 'ports', usage: ['ports <selector>', 'listening TCP and UDP sockets per host, with pid and program'], warm: true }],
  web: { hostTab: { label: 'Ports', order: 20 } },
});
