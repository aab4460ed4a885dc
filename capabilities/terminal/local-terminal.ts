// The local end of `flotilla shell`: where keystrokes come from and output goes. Directly, the
// CLI's own stdin and stdout (processTerminal); in warm mode, a client's, relayed over the
// control socket (cli/src/control/terminal-relay.ts). runShellSession drives either the same way.

/** Keystrokes (or piped input), its end and resizes, as a local terminal delivers them. */
export interface LocalTerminalEvents {
  input(bytes: Uint8Array): void;
  end(): void;
  resize(): void;
}

/** A local terminal as runShellSession uses it. */
export interface LocalTerminal {
  /** stdin is a terminal (raw mode, `~.`, resize); otherwise it is piped input that ends. */
  readonly interactive: boolean;
  /** The terminal's size now. */
  size(): { cols: number; rows: number };
  /** Starts delivering stdin, its end and resizes. */
  start(on: LocalTerminalEvents): void;
  /** Raw mode on, or the terminal back as it was (interactive only; harmless otherwise). */
  raw(on: boolean): void;
  /** Writes output bytes; `taken` runs once they are written (the agent's credit window waits on it), or could never be. */
  write(bytes: Uint8Array, taken: () => void): void;
  /** The session is open (warm mode tells the client, for a reattach hint). */
  opened?(host: string, session: string): void;
  /** Stops delivering and leaves the terminal as it was found. */
  stop(): void;
  /** Aborted when the local side is gone (a warm client that left); the session is then detached. */
  readonly gone?: AbortSignal;
}

/** This process's stdin and stdout. */
export function processTerminal(): LocalTerminal {
  const { stdin, stdout } = process;
  const interactive = stdin.isTTY === true;
  let rawOn = false;
  const raw = (on: boolean) => {
    if (!interactive || rawOn === on) return;
    stdin.setRawMode(on);
    rawOn = on;
  };
  return {
    interactive,
    size: () => ({ cols: Math.min(1000, stdout.columns || 80), rows: Math.min(1000, stdout.rows || 24) }),
    start(on) {
      stdin.on('data', (chunk: Buffer) => on.input(chunk));
      stdin.on('end', () => on.end());
      stdout.on('resize', () => on.resize());
      stdin.resume();
    },
    raw,
    write: (bytes, taken) => void stdout.write(bytes, () => taken()),
    stop() {
      raw(false);
      stdin.pause();
      stdin.removeAllListeners('data');
      stdin.removeAllListeners('end');
      stdout.removeAllListeners('resize');
    },
  };
}
