// exec: a shell command in its own process group on the host, output streamed as produced.
import { defineCapability, type Offsets } from '../spec.ts';
import { MAX_OUTPUT_WINDOW, MIN_OUTPUT_WINDOW } from '../../shared/wire/output-window.ts';
import { int, obj, optInt, optional, optStr, optStrMap, PATH_MAX, str, taskId, type Obj } from '../../shared/wire/validate.ts';

function offsets(o: Obj): Offsets {
  return { stdout: int(o, 'stdout', 0), stderr: int(o, 'stderr', 0) };
}

export const spec = defineCapability({
  name: 'exec',
  doc: 'run a command (or a script on stdin) in its own process group; output streamed, timeout, cancel, cwd, env, run-as',
  request: {
    type: 'exec',
    parse: (o) => ({
      task: taskId(o),
      cmd: str(o, 'cmd', 128 * 1024, 1),
      ...optional('cwd', optStr(o, 'cwd', PATH_MAX)),
      ...optional('env', optStrMap(o, 'env')),
      ...optional('stdin', optStr(o, 'stdin', 1024 * 1024)),
      ...optional('timeoutMs', optInt(o, 'timeoutMs', 1, 7 * 24 * 3600_000)),
      ...optional('user', optStr(o, 'user', 64)),
      /**
       * The controller lost its connection while this task ran and has seen this many bytes of
       * each stream; the agent sends the rest and the result (or runs the task if it never arrived).
       */
      ...optional('attach', o['attach'] === undefined ? undefined : offsets(obj(o['attach'], 'attach'))),
      /** Flow control: the agent keeps at most this many output bytes unacknowledged (`output.ack`). */
      ...optional('window', optInt(o, 'window', MIN_OUTPUT_WINDOW, MAX_OUTPUT_WINDOW)),
    }),
  },
  result: () => ({}),
  role: 'operator',
  traits: { journaled: { summary: (r) => r.cmd }, reattach: true, audit: (r) => r.cmd.slice(0, 500) },
  cli: [
    {
      name: 'run',
      usage: [
        'run <selector> [--timeout 30s] [--cwd DIR] [--env K=V] [--user U] -- <command…>',
        "(one argument is a shell line: -- 'ls | wc -l'; several are exact words;",
        "--timeout is the command's limit on each host, and the invocation",
        'ends 5s later, reporting hosts that did not answer)',
        '--queue [--deadline 24h]: each matching host that cannot be reached runs it',
        'when it comes back before the deadline (status queued; flotilla queue list);',
        '--window 7d: every host matching the selector within 7 days, also hosts that',
        'enroll later',
      ],
      options: {
        cwd: { type: 'string' },
        env: { type: 'string', multiple: true },
        user: { type: 'string' },
        queue: { type: 'boolean' },
        deadline: { type: 'string' },
        window: { type: 'string' },
      },
      warm: true,
    },
  ],
});
