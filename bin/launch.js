// Starts a Flotilla entry point written in TypeScript (through tsx) and turns its result
// or error into an exit status with a message for the user.
'use strict';
const { pathToFileURL } = require('node:url');
const { join } = require('node:path');
const { runMain } = require('./run-main.js');

// tsx's loader hooks, registered once (its CommonJS build of esm/api does not load in tsx 4.23).
let registered;

/** Imports a TypeScript module (relative to this folder) through tsx. */
async function importTs(entry) {
  await (registered ??= import('tsx/esm/api').then(({ register }) => register()));
  return import(pathToFileURL(join(__dirname, entry)).href);
}

/** Imports `entry` (relative to this folder) and runs its main(argv); see runMain. */
async function launch(entry, options = {}) {
  const module = await importTs(entry);
  await runMain(module.main, options);
}

module.exports = { importTs, launch };
