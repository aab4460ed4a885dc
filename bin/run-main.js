// Runs a Flotilla main(argv) and turns its result or error into an exit status with a message
// for the user. Plain JavaScript, so the bundled CLI can use it without loading tsx.
'use strict';

/**
 * Calls `main(argv)`. With `exitWhenDone`, exits as soon as it settles: open sockets (werift,
 * signaling) would keep a CLI alive.
 */
async function runMain(main, { exitWhenDone = false } = {}) {
  try {
    const status = await main(process.argv.slice(2));
    process.exitCode = typeof status === 'number' ? status : 0;
  } catch (error) {
    if (error && error.name === 'FlotillaError') {
      process.stderr.write(`error: ${error.message}\n`);
      process.exitCode = error.code === 'no-match' || error.code === 'unreachable' ? 1 : 2;
    } else if (error && error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      process.stderr.write(`error: ${error.message}; see --help\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`internal error: ${error && error.stack ? error.stack : String(error)}\n`);
      process.exitCode = 70;
    }
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
