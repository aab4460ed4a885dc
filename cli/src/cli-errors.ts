// How the CLI reports an error that ends an invocation: the exit status it maps to, one line
// for a person (stderr), or `{"error":{"code","message"}}` on stdout with --json. Also turns
// node:util parseArgs errors into usage errors with the corrected command where one exists.
// bin/run-main.js mirrors exitStatusOf and the JSON form for errors thrown outside main().

import { FlotillaError, type ErrorCode } from '../../shared/wire/errors.ts';
import { VALUE_OPTIONS } from './control/argv.ts';

/** Codes that mean "some host or the server could not be reached in time": exit status 1. */
const REACHABILITY: ReadonlySet<ErrorCode> = new Set(['no-match', 'unreachable', 'signaling-failed', 'timeout']);

/** Exit status for an error: 1 unreachable or timed out, 2 usage or setup, 130 cancelled, 70 internal. */
export function exitStatusOf(error: unknown): number {
  if (error instanceof FlotillaError) return REACHABILITY.has(error.code) ? 1 : error.code === 'cancelled' ? 130 : 2;
  return 70;
}

/** The one line a person reads: usage errors lead with what was typed wrong. */
export function errorLine(error: unknown): string {
  if (error instanceof FlotillaError) return error.code === 'usage' && error.detail ? `usage error: ${error.detail}` : `error: ${error.message}`;
  return `internal error: ${error instanceof Error && error.stack ? error.stack : String(error)}`;
}

/** The --json form of an error (one line, parseable). */
export function errorJson(error: unknown): string {
  const code: ErrorCode = error instanceof FlotillaError ? error.code : 'internal';
  const message = error instanceof FlotillaError ? errorLine(error).replace(/^(usage )?error: /, '') : error instanceof Error ? error.message : String(error); // no stack
  return JSON.stringify({ error: { code, message } });
}

/** True when `--json` is among the options (before `--`). */
export function wantsJson(argv: readonly string[]): boolean {
  const dash = argv.indexOf('--');
  return (dash < 0 ? argv : argv.slice(0, dash)).includes('--json');
}

/** Reports `error` (JSON on stdout with --json, else a line on stderr) and returns the exit status. */
export function reportError(error: unknown, json: boolean, write: (stream: 'stdout' | 'stderr', text: string) => void): number {
  const status = exitStatusOf(error);
  if (json) {
    write('stdout', errorJson(error) + '\n');
    // The stack of an internal error still goes where a person looks.
    if (status === 70) write('stderr', errorLine(error) + '\n');
  } else write('stderr', errorLine(error) + '\n');
  return status;
}

/** Quotes a word for a POSIX shell when it needs it. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * A node:util parseArgs error as a usage error. For `run` with the remote command typed without
 * `--` (`flotilla run web-1 ls -la`), says so and gives the command with `--` in its place.
 */
export function usageFromParseError(error: unknown, argv: readonly string[]): FlotillaError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return undefined;
  // Node's own sentence suggests `'-- "-l"` (an unbalanced quote) and the wrong place for `--`.
  const option = /'(-[^']*)'/.exec((error as Error).message)?.[1] ?? (error as Error).message;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const fixed = runWithDash(argv);
    if (fixed) return new FlotillaError('usage', `"${option}" is not a flotilla option; the command for the hosts goes after --, as in: ${fixed}`);
    return new FlotillaError('usage', `unknown option "${option}"; see flotilla --help`);
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = /--[a-z-]+/.exec((error as Error).message)?.[0];
    return new FlotillaError(
      'usage',
      name ? `${name} needs a value, as in ${name} VALUE; see flotilla --help` : `${(error as Error).message}; see flotilla --help`,
    );
  }
  return new FlotillaError('usage', `${(error as Error).message}; see flotilla --help`);
}

/**
 * `flotilla run <selector> words…` typed without `--`: the same command with `--` after the
 * selector (everything after it goes to the hosts), or undefined when argv is not that.
 */
export function runWithDash(argv: readonly string[]): string | undefined {
  if (argv.includes('--')) return undefined;
  const positions: number[] = [];
  for (let i = 0; i < argv.length && positions.length < 2; i++) {
    const word = argv[i]!;
    if (word.startsWith('--') && VALUE_OPTIONS.has(word.slice(2))) i++;
    else if (!word.startsWith('-')) positions.push(i);
  }
  const [command, selector] = positions;
  // The word after the selector is the command for the hosts (an option there is a typo of ours).
  const next = selector === undefined ? undefined : argv[selector + 1];
  if (command === undefined || selector === undefined || argv[command] !== 'run' || next === undefined || next.startsWith('-')) return undefined;
  return ['flotilla', ...argv.slice(0, selector + 1), '--', ...argv.slice(selector + 1)].map(shellWord).join(' ');
}
