// What each CLI command receives: its arguments, flags and output functions.

/** Parsed command-line input for one command. */
export interface CommandContext {
  args: string[];
  /** Everything after `--`. */
  rest: string[];
  flags: {
    json?: boolean;
    signal?: string;
    name?: string;
    force?: boolean;
    ttl?: string;
    timeout?: string;
    forks?: string;
    mode?: string;
    role?: string;
    home?: string;
    cwd?: string;
    env?: string[];
    user?: string;
    task?: string;
    refresh?: boolean;
    uses?: string;
  };
  fleetOptions: { forks?: number; log?: (event: string, fields?: Record<string, unknown>) => void };
  out(text: string): void;
  err(text: string): void;
}
