// push: a file sent in chunks after the request, checked (size, sha256) and renamed into place.
import { defineCapability } from '../spec.ts';
import { int, optBool, optional, PATH_MAX, str, taskId } from '../../shared/wire/validate.ts';

export const spec = defineCapability({
  name: 'push',
  doc: 'receive a file in chunks into a temporary file beside the target, check size and sha256, rename it into place',
  request: {
    type: 'push.begin',
    parse: (o) => ({
      task: taskId(o),
      path: str(o, 'path', PATH_MAX, 1),
      size: int(o, 'size', 0),
      sha256: str(o, 'sha256', 64, 64),
      mode: int(o, 'mode', 0, 0o7777),
      ...optional('overwrite', optBool(o, 'overwrite')),
    }),
  },
  followUps: { 'push.chunk': (o) => ({ offset: int(o, 'offset', 0) }), 'push.end': () => ({}) },
  result: (d) => ({ path: str(d, 'path', PATH_MAX), size: int(d, 'size'), sha256: str(d, 'sha256', 64), mode: int(d, 'mode', 0, 0o7777) }),
  role: 'operator',
  traits: { journaled: { summary: (r) => r.path }, audit: (r) => r.path },
  cli: [
    {
      name: 'push',
      usage: ['push <selector> <local-file> <remote-path> [--mode 0644]', '[--queue [--deadline 24h] | --window 7d]: as run; a queued file is at most 128 KiB'],
      options: { mode: { type: 'string' }, queue: { type: 'boolean' }, deadline: { type: 'string' }, window: { type: 'string' } },
      warm: true,
    },
  ],
});
