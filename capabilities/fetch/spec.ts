// fetch: a file streamed back in chunks with its size, mode and sha256.
import { defineCapability } from '../spec.ts';
import { int, PATH_MAX, str, taskId } from '../../shared/wire/validate.ts';

export const spec = defineCapability({
  name: 'fetch',
  doc: 'stream a file back in chunks with its size, mode and sha256',
  request: { type: 'fetch', parse: (o) => ({ task: taskId(o), path: str(o, 'path', PATH_MAX, 1) }) },
  events: { 'fetch.chunk': (o) => ({ offset: int(o, 'offset') }) },
  result: (d) => ({ path: str(d, 'path', PATH_MAX), size: int(d, 'size'), sha256: str(d, 'sha256', 64), mode: int(d, 'mode', 0, 0o7777) }),
  role: 'operator',
  traits: { journaled: { summary: (r) => r.path }, audit: (r) => r.path },
  cli: [{ name: 'fetch', usage: ['fetch <selector> <remote-path> <local-dir>', '(one file per host: <local-dir>/<host>/<name>)'], warm: true }],
});
