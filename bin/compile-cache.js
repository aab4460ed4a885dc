// Loads the CommonJS CLI bundle with a V8 code cache, as Node 22's module.enableCompileCache()
// does (Node 20 has none): compiling the ~700 KiB bundle and the functions a command runs was
// ~50-75 ms of every cold `flotilla run` here (bench/README.md, "Cold path").
//
// The cache lives in $FLOTILLA_COMPILE_CACHE, else $XDG_CACHE_HOME/flotilla, else
// ~/.cache/flotilla; FLOTILLA_COMPILE_CACHE=off turns it off. One file per command (`run`
// compiles the WebRTC and handshake code, `token` does not), written after the first run of that
// command that succeeded, so it holds what that command compiled (under ~1 MiB each).
//
// V8 checks a cache's version, flags and the source's length, not the source itself, and in
// release builds not the cache's own contents either: a damaged cache can crash the process (a
// segfault, tried). So the file's name carries a hash of the bundle's text and Node's version and
// architecture (a rebuilt bundle or another Node never reads a stale one), and the file a
// SHA-256 of the cache after a magic string; a file that does not match is never handed to V8.
// A cache V8 rejects (other flags) is written anew. Any failure to read or write a cache only
// costs the compile it would have saved.
'use strict';
const { createHash } = require('node:crypto');
const { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { homedir } = require('node:os');
const { dirname, join } = require('node:path');
const vm = require('node:vm');

const MAGIC = Buffer.from('FLOTCC01');
const HEADER = MAGIC.length + 32;

/** The cache inside a file written by save(), or undefined when it is not intact. */
function unwrap(file) {
  if (file.length <= HEADER || !file.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const data = file.subarray(HEADER);
  return createHash('sha256').update(data).digest().equals(file.subarray(MAGIC.length, HEADER)) ? data : undefined;
}

/** Where caches go, or undefined when turned off. */
function cacheDir(env = process.env) {
  const chosen = env.FLOTILLA_COMPILE_CACHE;
  if (chosen === 'off' || chosen === '0') return undefined;
  if (chosen) return chosen;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'flotilla');
}

/**
 * The cache file for `kind` in `dir`, named after the bundle's text and Node's version and
 * architecture: V8 itself compares only the source's length (it does check its version and flags).
 */
function cachePath(dir, source, kind) {
  const key = createHash('sha256')
    .update([process.version, process.arch, process.config?.variables?.node_module_version].join('\0'))
    .update(source)
    .digest('hex')
    .slice(0, 16);
  return join(dir, `cli-${kind}-${key}.bin`);
}

/**
 * Evaluates the CommonJS `file` as require() would, with the cache of `kind` when there is one.
 * Returns { exports, cache, save() } where cache is 'used', 'rejected' (by V8), 'corrupt' (by
 * the checksum), 'none' or 'off', and save() writes the cache unless it was used (call it after
 * the command succeeded).
 */
function loadCached(file, kind, env = process.env) {
  const dir = cacheDir(env);
  let path;
  let cachedData;
  let corrupt = false;
  const source = readFileSync(file, 'utf8');
  try {
    if (dir) {
      path = cachePath(dir, source, kind);
      cachedData = unwrap(readFileSync(path));
      corrupt = cachedData === undefined;
    }
  } catch {
    cachedData = undefined; // none yet, or unreadable: compiled from source
  }
  const script = new vm.Script(Module.wrap(source), { filename: file, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext().call(module.exports, module.exports, Module.createRequire(file), module, file, dirname(file));
  module.loaded = true;
  const cache = !dir ? 'off' : corrupt ? 'corrupt' : !cachedData ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
  return {
    exports: module.exports,
    cache,
    save() {
      if (!path || cache === 'used') return;
      try {
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        const temp = `${path}.${process.pid}.tmp`;
        const data = script.createCachedData();
        writeFileSync(temp, Buffer.concat([MAGIC, createHash('sha256').update(data).digest(), data]), { mode: 0o600 });
        renameSync(temp, path);
        // Caches of this kind for other bundles or Node versions are of no more use.
        const prefix = `cli-${kind}-`;
        for (const name of readdirSync(dirname(path))) {
          if (name.startsWith(prefix) && join(dirname(path), name) !== path && !name.endsWith('.tmp')) rmSync(join(dirname(path), name), { force: true });
        }
      } catch {
        // A read-only or full disk: the next run compiles again.
      }
    },
  };
}

module.exports = { cacheDir, cachePath, loadCached };
