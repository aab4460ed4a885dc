// Where the CLI keeps its state; a module of its own so the thin warm-mode client can find the
// control socket without loading the rest of the CLI.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** $FLOTILLA_HOME, else $XDG_CONFIG_HOME/flotilla, else ~/.config/flotilla. */
export function homeDir(env: NodeJS.ProcessEnv = process.env): string {
  // Empty means unset (FLOTILLA_HOME= would otherwise make the working directory the home), and
  // a relative path is taken from the working directory once, here.
  const home = env['FLOTILLA_HOME'] || join(env['XDG_CONFIG_HOME'] || join(homedir(), '.config'), 'flotilla');
  return resolve(home);
}
