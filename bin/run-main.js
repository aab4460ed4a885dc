// Runs a Flotilla main(argv) and turns its result or error into an exit status with a message
// for the user. Plain JavaScript, so the bundled CLI can use it without loading tsx.
'use strict';

/** Codes that mean "could not reach a host or the server in time" (exit 1); as cli/src/cli-errors.ts. */
const REACHABILITY = new Set(['no-match', 'unreachable', 'signaling-failed', 'timeout']);

/** Exit status and the one line a person reads, for an error that escaped main(). */
function describe(error) {
  if (error && error.name === 'FlotillaError') {
    const line = error.code === 'usage' && error.detail ? `usage error: ${error.detail}` : `error: ${error.message}`;
    return {
      code: error.code,
      line,
      message: line.replace(/^(usage )?error: /, ''),
      status: REACHABILITY.has(error.code) ? 1 : error.code === 'cancelled' ? 130 : 2,
    };
  }
  if (error && typeof error.code === 'string' && error.code.startsWith('ERR_PARSE_ARGS_')) {
    return { code: 'usage', line: `usage error: ${error.message}; see --help`, message: `${error.message}; see --help`, status: 2 };
  }
  return {
    code: 'internal',
    line: `internal error: ${error && error.stack ? error.stack : String(error)}`,
    message: error instanceof Error ? error.message : String(error),
    status: 70,
  };
}

/** True when `--json` is among the options (before `--`). */
function wantsJson(argv) {
  const dash = argv.indexOf('--');
  return (dash < 0 ? argv : argv.slice(0, dash)).includes('--json');
}

/**
 * Calls `main(argv)`. With `exitWhenDone`, exits as soon as it settles: open sockets (werift,
 * signaling) would keep a CLI alive. An error is a line on stderr, or with --json
 * `{"error":{"code","message"}}` on stdout.
 */
async function runMain(main, { exitWhenDone = false } = {}) {
  const argv = process.argv.slice(2);
  // A reader that went away (`flotilla ps '*' | head`) ends the CLI quietly, as it ends other
  // tools, instead of an unhandled EPIPE with a stack trace.
  process.stdout.on('error', (error) => {
    if (error && error.code === 'EPIPE') process.exit(process.exitCode || 0);
    throw error;
  });
  try {
    const status = await main(argv);
    // A main that reports through process.exitCode (flotilla-signal's bad flags: 2) keeps it.
    process.exitCode = typeof status === 'number' ? status : (process.exitCode ?? 0);
  } catch (error) {
    const { code, line, message, status } = describe(error);
    if (wantsJson(argv)) process.stdout.write(JSON.stringify({ error: { code, message } }) + '\n');
    if (!wantsJson(argv) || status === 70) process.stderr.write(line + '\n');
    process.exitCode = status;
  }
  if (exitWhenDone || process.exitCode) {
    // A pipe takes what fits and Node queues the rest: exit only once it is written, or output
    // is lost (a 1 MiB --json was cut at ~200 KiB). A reader that went away fails the write,
    // which also ends the wait.
    await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
    setImmediate(() => process.exit());
  }
}

/** Resolves once everything written to `stream` so far has been handed to the OS (or failed). */
function flushed(stream) {
  if (stream.destroyed || !stream.writable || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('error', resolve);
    stream.write('', resolve);
  });
}

module.exports = { runMain };
