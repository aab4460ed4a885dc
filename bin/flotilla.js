#!/usr/bin/env node
// flotilla: runs the bundled CLI (dist/flotilla.mjs and dist/flotilla-client.cjs, `npm run
// build:cli`) when the bundle is newer than every source it was built from, else the
// TypeScript through tsx. run, push, fetch and ping first try this home's control process
// (warm mode) through the small client module.
// CommonJS (bin/package.json), as is the client bundle: a warm run is mostly Node starting, and
// an ES module entry plus ES imports of node:fs, node:net and node:child_process cost ~8 ms more
// per invocation here (bench/README.md, "Warm path").
'use strict';
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { freshBundle } = require('./fresh-bundle.js');
const { runMain } = require('./run-main.js');

const bundled = freshBundle();
const ts = (entry) => require('./launch.js').importTs(entry);
const loadClient = async () => (bundled ? require('../dist/flotilla-client.cjs') : ts('../cli/src/control/client.ts'));
const loadMain = () => (bundled ? import(pathToFileURL(join(__dirname, '..', 'dist', 'flotilla.mjs')).href) : ts('../cli/src/main.ts'));

void runMain(async (argv) => {
  const { tryControl } = await loadClient();
  const forwarded = await tryControl(argv, __filename);
  if (forwarded !== undefined) return forwarded;
  const { main } = await loadMain();
  return main(argv);
}, { exitWhenDone: true });
