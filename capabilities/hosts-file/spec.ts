// hosts-file: read /etc/hosts; add, change or remove entries (validated, written atomically,
// the previous version kept for one undo, every change audited).
import { defineCapability } from '../spec.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { int, isObj, oneOf, optBool, optional, optStr, str, strArray, type Obj } from '../../shared/wire/validate.ts';
import { entryProblem, isHostName, MAX_NAMES, type HostsLine } from './hosts.ts';

/** Most lines a hosts file may have to be served (a bigger one is refused, not cut). */
export const MAX_LINES = 10_000;

/** What a hosts-file request asks for. */
export type HostsFileRequest = { op: 'read' } | { op: 'add'; address: string; names: string[] } | { op: 'remove'; name: string } | { op: 'undo' };

function parseRequest(o: Obj): HostsFileRequest {
  const op = o['op'] === undefined ? 'read' : oneOf(o, 'op', ['read', 'add', 'remove', 'undo'] as const);
  if (op === 'add') {
    const address = str(o, 'address', 45, 1);
    const names = strArray(o, 'names', MAX_NAMES + 1, 253);
    const problem = entryProblem(address, names);
    if (problem) throw new FlotillaError('bad-message', problem);
    return { op, address, names };
  }
  if (op === 'remove') {
    const name = str(o, 'name', 253, 1);
    if (!isHostName(name)) throw new FlotillaError('bad-message', `"${name}" is not a valid host name`);
    return { op, name };
  }
  return { op };
}

function parseLine(v: unknown, i: number): HostsLine {
  if (!isObj(v)) throw new FlotillaError('bad-message', `lines[${i}]: expected an object`);
  return {
    line: int(v, 'line', 1, MAX_LINES),
    text: str(v, 'text', 4096),
    ...optional('address', optStr(v, 'address', 64)),
    ...optional('names', v['names'] === undefined ? undefined : strArray(v, 'names', 1024, 4096)),
    ...optional('comment', optStr(v, 'comment', 4096)),
  };
}

/** What the audit log records of a request. */
export function describeRequest(r: HostsFileRequest): string {
  if (r.op === 'add') return `add ${r.address} ${r.names.join(' ')}`;
  if (r.op === 'remove') return `remove ${r.name}`;
  return r.op;
}

export const spec = defineCapability({
  name: 'hosts-file',
  doc: 'read /etc/hosts; add, change or remove entries (validated, atomic write, one undo, audited)',
  request: { type: 'hosts-file', parse: parseRequest },
  result: (d) => {
    const lines = d['lines'];
    if (!Array.isArray(lines) || lines.length > MAX_LINES) throw new FlotillaError('bad-message', `lines: expected a list of at most ${MAX_LINES}`);
    return {
      path: str(d, 'path', 4096, 1),
      lines: lines.map(parseLine),
      /** An undo is available (the version before the last change through Flotilla). */
      undo: optBool(d, 'undo') === true,
      ...optional('change', optStr(d, 'change', 64 * 1024)),
      ...optional('written', d['written'] === undefined ? undefined : oneOf(d, 'written', ['atomic', 'in-place'] as const)),
    };
  },
  // Reading needs viewer; any change operator.
  role: (r) => (r.op === 'read' ? 'viewer' : 'operator'),
  traits: { audit: describeRequest },
  cli: [
    {
      name: 'hosts-file',
      usage: [
        'hosts-file <selector> [--add "IP NAME…" | --remove NAME | --undo]',
        '/etc/hosts per host; add or change (an existing name moves), remove, undo the last change',
      ],
      options: { add: { type: 'string' }, remove: { type: 'string' }, undo: { type: 'boolean' } },
      warm: true,
    },
  ],
  web: { hostTab: { label: 'Hosts file', order: 50 } },
});
