// Where the CLI keeps its state; a module of its own so the thin warm-mode client can find the
// control socket without loading the rest of the CLI.

import { homedir } from 'node:os';
import { join } from 'node:path';

/** $FLOTILLA_HOME, else $XDG_CONFIG_HOME/flotilla, else ~/.config/flotilla. */
export function homeDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['FLOTILLA_HOME'] ?? join(env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), 'flotilla');
}
