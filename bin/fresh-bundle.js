// Decides whether dist/flotilla.cjs and dist/flotilla-client.cjs may be used: both exist and are
// newer than every file they were built from (cli/, capabilities/, node/, shared/, agent/src/) and than the last
// install (package-lock.json, node_modules/.package-lock.json, patches/: werift is bundled in). A checkout that changed since the last `npm run build:cli` runs the sources through
// tsx instead, so a stale bundle never runs. FLOTILLA_NO_BUNDLE=1 forces tsx; FLOTILLA_BUNDLE=1
// uses the bundle whenever it exists (the benchmark builds it first and must not switch to tsx
// halfway because someone edits a source file during the run).
'use strict';
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const SOURCES = ['cli/src', 'capabilities', 'node', 'shared', 'agent/src', 'patches', 'package-lock.json', 'node_modules/.package-lock.json'];

function newest(path) {
  let info;
  try {
    info = statSync(path);
  } catch {
    return 0; // absent (patches/ may not exist)
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let latest = info.mtimeMs; // a deleted file changes its directory's mtime
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

/** True when the CLI bundles exist and are newer than their sources. */
function freshBundle(env = process.env) {
  if (env.FLOTILLA_NO_BUNDLE === '1') return false;
  let built;
  try {
    built = Math.min(statSync(join(ROOT, 'dist/flotilla.cjs')).mtimeMs, statSync(join(ROOT, 'dist/flotilla-client.cjs')).mtimeMs);
  } catch {
    return false;
  }
  return env.FLOTILLA_BUNDLE === '1' || SOURCES.every((s) => newest(join(ROOT, s)) < built);
}

module.exports = { freshBundle };
