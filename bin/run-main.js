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
  if (exitWhenDone || process.exitCode) setImmediate(() => process.exit());
}

module.exports = { runMain };
