#!/usr/bin/env node
// flotilla: runs the bundled CLI (dist/flotilla.cjs and dist/flotilla-client.cjs, `npm run
// build:cli`) when the bundle is newer than every source it was built from, else the
// TypeScript through tsx. run, push, fetch and ping first try this home's control process
// (warm mode) through the small client module; the full CLI is loaded with a V8 code cache
// (compile-cache.js).
// CommonJS (bin/package.json), as are the bundles: a warm run is mostly Node starting, and an
// ES module entry plus ES imports of node:fs, node:net and node:child_process cost ~8 ms more
// per invocation here; and only a CommonJS bundle can be given a code cache in Node 20.
'use strict';
const { join } = require('node:path');
const { freshBundle } = require('./fresh-bundle.js');
const { runMain } = require('./run-main.js');

const bundled = freshBundle();
const ts = (entry) => require('./launch.js').importTs(entry);
const loadClient = async () => (bundled ? require('../dist/flotilla-client.cjs') : ts('../cli/src/control/client.ts'));

void runMain(
  async (argv) => {
    const client = await loadClient();
    const forwarded = await client.tryControl(argv, __filename);
    if (forwarded !== undefined) return forwarded;
    if (!bundled) return (await ts('../cli/src/main.ts')).main(argv);
    const cli = require('./compile-cache.js').loadCached(join(__dirname, '..', 'dist', 'flotilla.cjs'), client.cacheKind(argv));
    const status = await cli.exports.main(argv);
    if (!status) cli.save(); // a command that failed early compiled too little to be worth keeping
    return status;
  },
  { exitWhenDone: true },
);
