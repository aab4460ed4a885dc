// bin/compile-cache.js: the CLI bundle loaded with a V8 code cache. A real bundle-like CommonJS
// file in a temporary directory, real cache files, and V8's own acceptance or rejection of them.
// Each load runs in a fresh Node process: within one process V8 serves a script it compiled
// before from its own in-memory cache and never looks at the file.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const MODULE = createRequire(import.meta.url).resolve('../../../bin/compile-cache.js');
const { cacheDir } = createRequire(import.meta.url)(MODULE) as { cacheDir(env?: NodeJS.ProcessEnv): string | undefined };

interface Loaded {
  cache: 'used' | 'rejected' | 'corrupt' | 'none' | 'off';
  name: string;
  result: number;
  saveError?: string;
}

/** loadCached(bundle, kind) in a new Node process: its cache state, main(argv)'s result, then save(). */
function loadCached(bundle: string, kind: string, env: NodeJS.ProcessEnv, argv: string[] = [], v8Flags = ''): Loaded {
  const script = `${v8Flags ? `require('node:v8').setFlagsFromString(${JSON.stringify(v8Flags)});` : ''}
    const l = require(${JSON.stringify(MODULE)}).loadCached(${JSON.stringify(bundle)}, ${JSON.stringify(kind)}, process.env);
    const out = { cache: l.cache, name: l.exports.name, result: l.exports.main(${JSON.stringify(argv)}) };
    try { l.save(); } catch (e) { out.saveError = String(e); }
    console.log(JSON.stringify(out));`;
  const child = spawnSync(process.execPath, ['-e', script], { env: { PATH: process.env['PATH'], ...env }, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`node exited ${child.status} (${child.signal}): ${child.stderr}`);
  return JSON.parse(child.stdout) as Loaded;
}

/** main(argv) of bundleSource('one'): f7(argc) + f199(1) + the file name's length. */
const expected = (argc: number) => argc * 7 + 3 + (199 + 3) + 'flotilla.cjs'.length;

/** A CommonJS file with enough functions that V8 has something to cache. */
function bundleSource(name: string): string {
  const fns = Array.from({ length: 200 }, (_, i) => `function f${i}(x) { return x * ${i} + ${JSON.stringify(name)}.length; }`).join('\n');
  return `'use strict';\n${fns}\nexports.name = ${JSON.stringify(name)};\nexports.main = (argv) => f7(argv.length) + f199(1) + require('node:path').basename(__filename).length;\n`;
}

describe('compile cache (bin/compile-cache.js)', () => {
  let dir: string;
  let bundle: string;
  let env: NodeJS.ProcessEnv;
  const files = () => readdirSync(join(dir, 'cache')).sort();
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-compile-cache-'));
    bundle = join(dir, 'flotilla.cjs');
    writeFileSync(bundle, bundleSource('one'));
    env = { FLOTILLA_COMPILE_CACHE: join(dir, 'cache') };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('compiles from source the first time, writes the cache after, and V8 takes it the next time', () => {
    const first = loadCached(bundle, 'run', env, ['a', 'b']);
    expect(first).toEqual({ cache: 'none', name: 'one', result: expected(2) });
    expect(files()).toHaveLength(1);
    expect(files()[0]).toMatch(/^cli-run-[0-9a-f]{16}\.bin$/);
    expect(statSync(join(dir, 'cache', files()[0]!)).mode & 0o777).toBe(0o600);
    const written = readFileSync(join(dir, 'cache', files()[0]!));

    expect(loadCached(bundle, 'run', env, ['a', 'b'])).toEqual({ cache: 'used', name: 'one', result: expected(2) });
    // A cache that was used is not written again.
    expect(readFileSync(join(dir, 'cache', files()[0]!)).equals(written)).toBe(true);
  });

  it('each command has its own cache', () => {
    loadCached(bundle, 'run', env);
    expect(loadCached(bundle, 'token', env).cache).toBe('none');
    expect(files().map((f) => f.split('-')[1])).toEqual(['run', 'token']);
    expect(loadCached(bundle, 'token', env).cache).toBe('used');
  });

  it('a cache with one byte changed is never given to V8 (it could crash Node): compiled from source, written anew', () => {
    loadCached(bundle, 'run', env);
    const path = join(dir, 'cache', files()[0]!);
    const bytes = readFileSync(path);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x01;
    writeFileSync(path, bytes);
    expect(loadCached(bundle, 'run', env)).toEqual({ cache: 'corrupt', name: 'one', result: expected(0) });
    expect(loadCached(bundle, 'run', env).cache).toBe('used');
  });

  it('a cache cut short, or not ours at all, is treated the same way', () => {
    loadCached(bundle, 'run', env);
    const path = join(dir, 'cache', files()[0]!);
    writeFileSync(path, readFileSync(path).subarray(0, 100));
    expect(loadCached(bundle, 'run', env).cache).toBe('corrupt');
    writeFileSync(path, 'not a cache');
    expect(loadCached(bundle, 'run', env).cache).toBe('corrupt');
    expect(loadCached(bundle, 'run', env).cache).toBe('used');
  });

  it('an intact cache that V8 refuses (its flags changed at run time) is rejected and replaced', () => {
    loadCached(bundle, 'run', env);
    expect(loadCached(bundle, 'run', env, [], '--no-lazy-feedback-allocation').cache).toBe('rejected');
    expect(loadCached(bundle, 'run', env, [], '--no-lazy-feedback-allocation').cache).toBe('used');
  });

  it('a bundle rebuilt to the same length gets its own cache (V8 would take the old one: it compares lengths)', () => {
    loadCached(bundle, 'run', env);
    writeFileSync(bundle, bundleSource('one').replace('x * 5 +', 'x / 5 +'));
    expect(loadCached(bundle, 'run', env).cache).toBe('none');
  });

  it('a rebuilt bundle gets a cache of its own, and the old one is removed when it is written', () => {
    loadCached(bundle, 'run', env);
    const old = files();
    writeFileSync(bundle, bundleSource('two'));
    expect(loadCached(bundle, 'run', env)).toMatchObject({ cache: 'none', name: 'two' });
    expect(files()).toHaveLength(1);
    expect(files()[0]).not.toBe(old[0]);
  });

  it('FLOTILLA_COMPILE_CACHE=off: no cache read or written', () => {
    expect(loadCached(bundle, 'run', { FLOTILLA_COMPILE_CACHE: 'off' })).toEqual({ cache: 'off', name: 'one', result: expected(0) });
    expect(existsSync(join(dir, 'cache'))).toBe(false);
    expect(cacheDir({ FLOTILLA_COMPILE_CACHE: 'off' })).toBeUndefined();
  });

  it('the default place is $XDG_CACHE_HOME/flotilla, else ~/.cache/flotilla', () => {
    expect(cacheDir({ XDG_CACHE_HOME: '/var/cache/me' })).toBe('/var/cache/me/flotilla');
    expect(cacheDir({})).toMatch(/\/\.cache\/flotilla$/);
  });

  it('a cache directory that cannot be written costs only the cache: the command runs, nothing throws', () => {
    writeFileSync(join(dir, 'cache'), 'a file where the directory should be');
    expect(loadCached(bundle, 'run', env)).toEqual({ cache: 'none', name: 'one', result: expected(0) });
    expect(loadCached(bundle, 'run', env).cache).toBe('none');
  });
});
