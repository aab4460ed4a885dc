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
    probe?: boolean;
    uses?: string;
    persist?: string;
    'no-persist'?: boolean;
    stop?: boolean;
    status?: boolean;
    /** A capability's own options (declared in its spec's cli entry), as parsed. */
    [option: string]: string | boolean | string[] | undefined;
  };
  /** The invoking user's working directory (the client's, in warm mode). */
  cwd: string;
  /** Set in warm mode: aborted when the client presses Ctrl-C (otherwise commands watch SIGINT). */
  signal?: AbortSignal;
  /** With --timeout: aborted when the invocation's time is up (for run, --timeout plus its grace). */
  deadline?: AbortSignal;
  fleetOptions: { connectTimeoutMs?: number; forks?: number; log?: (event: string, fields?: Record<string, unknown>) => void };
  /** A line on stdout. */
  out(text: string): void;
  /** A line on stderr. */
  err(text: string): void;
  /** Raw text on stdout (streamed command output). */
  write(text: string): void;
}

/** A string option a capability declares in its spec (main.ts parses every declared option into flags). */
export function stringFlag(ctx: CommandContext, name: string): string | undefined {
  const value = ctx.flags[name];
  return typeof value === 'string' ? value : undefined;
}

/** A boolean option a capability declares in its spec. */
export function booleanFlag(ctx: CommandContext, name: string): boolean {
  return ctx.flags[name] === true;
}
