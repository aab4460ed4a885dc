// Starts a Flotilla entry point written in TypeScript (through tsx) and turns its result
// or error into an exit status with a message for the user.
import { register } from 'tsx/esm/api';
import { runMain } from './run-main.js';

register();

/** Imports a TypeScript module (relative to this folder) through tsx. */
export function importTs(entry) {
  return import(new URL(entry, import.meta.url).href);
}

/** Imports `entry` (relative to this folder) and runs its main(argv); see runMain. */
export async function launch(entry, options = {}) {
  const module = await importTs(entry);
  await runMain(module.main, options);
}
