// logs: the last lines of a file (within the agent's allowed roots) or of a unit's journal, and
// following it (`-f`) streamed as output events until cancelled, within a byte budget.
import { defineCapability } from '../spec.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { bool, int, optBool, optInt, optional, PATH_MAX, str, type Obj } from '../../shared/wire/validate.ts';
import { unitNameProblem } from '../services/parse.ts';

/** Lines a request may ask for. */
export const MAX_LINES = 10_000;
/** Lines when the request does not say. */
export const DEFAULT_LINES = 100;
/** Most bytes of a tail (the lines that fit, newest kept). */
export const MAX_TAIL_BYTES = 4 * 1024 * 1024;
/** A follow streams at most this many bytes a second; the rest is dropped and counted. */
export const FOLLOW_BYTES_PER_SECOND = 256 * 1024;

/** What to read: a file by absolute path, or a systemd unit's journal. */
export type LogSource = { kind: 'file'; path: string } | { kind: 'unit'; unit: string };

const UNIT_PREFIX = 'unit:';

/** Reads `unit:NAME` or an absolute path; a sentence for anything else. */
export function parseSource(source: string): LogSource {
  if (source.startsWith(UNIT_PREFIX)) {
    const unit = source.slice(UNIT_PREFIX.length);
    const problem = unitNameProblem(unit);
    if (problem) throw new FlotillaError('bad-message', problem);
    return { kind: 'unit', unit };
  }
  if (!source.startsWith('/')) throw new FlotillaError('bad-message', `"${source.slice(0, 200)}" is neither an absolute path on the host nor unit:NAME`);
  return { kind: 'file', path: source };
}

function parseRequest(o: Obj): { source: string; lines?: number; follow?: boolean } {
  const source = str(o, 'source', PATH_MAX + UNIT_PREFIX.length, 1);
  parseSource(source);
  return { source, ...optional('lines', optInt(o, 'lines', 1, MAX_LINES)), ...optional('follow', optBool(o, 'follow')) };
}

export const spec = defineCapability({
  name: 'logs',
  doc: "the last lines of a file (in the agent's allowed roots) or a unit's journal; follow streams new lines until cancelled (256 KiB/s at most)",
  request: { type: 'logs', parse: parseRequest },
  result: (d) => ({
    source: str(d, 'source', PATH_MAX + UNIT_PREFIX.length),
    /** Lines of the tail sent first. */
    lines: int(d, 'lines', 0, MAX_LINES),
    /** Every byte streamed, tail and follow. */
    bytes: int(d, 'bytes'),
    /** The tail stopped at MAX_TAIL_BYTES before it had the lines asked for. */
    cut: bool(d, 'cut'),
    follow: bool(d, 'follow'),
    /** Bytes a follow skipped because the log grew faster than its budget. */
    droppedBytes: int(d, 'droppedBytes'),
    truncations: int(d, 'truncations'),
    rotations: int(d, 'rotations'),
  }),
  role: 'viewer',
  traits: { audit: (r) => `${r.source}${r.follow ? ' (follow)' : ''}` },
  cli: [
    {
      name: 'logs',
      usage: ['logs <selector> <file | unit:NAME> [-n 100] [-f] [--timeout 10m]', '(-f follows until Ctrl-C or --timeout; either ends it with exit 0)'],
      options: { lines: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' } },
    },
  ],
  web: { hostTab: { label: 'Logs', order: 60 } },
});
