#!/usr/bin/env node
// flotilla: runs the bundled CLI (dist/flotilla*.mjs, `npm run build:cli`) when the bundle is
// newer than every source it was built from, else the TypeScript through tsx. run, push, fetch
// and ping first try this home's control process (warm mode) through the small client module.
import { fileURLToPath } from 'node:url';
import { freshBundle } from './fresh-bundle.js';
import { runMain } from './run-main.js';

const script = fileURLToPath(import.meta.url);
const bundled = freshBundle();
const load = bundled
  ? (name) => import(new URL(`../dist/${name}.mjs`, import.meta.url).href)
  : async (name) => (await import('./launch.js')).importTs(name === 'flotilla-client' ? '../cli/src/control/client.ts' : '../cli/src/main.ts');

await runMain(async (argv) => {
  const { tryControl } = await load('flotilla-client');
  const forwarded = await tryControl(argv, script);
  if (forwarded !== undefined) return forwarded;
  const { main } = await load('flotilla');
  return main(argv);
}, { exitWhenDone: true });
