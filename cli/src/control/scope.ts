// The request a control process is serving, carried through async calls (AsyncLocalStorage):
// while a command runs inside the control process, openHome() and openFleet() hand out the
// process's long-lived home and fleet, and output and progress go back over the client's socket.

import { AsyncLocalStorage } from 'node:async_hooks';
import type { Home } from '../home.ts';
import type { Fleet } from '../fleet.ts';
import type { LocalTerminal } from '../../../capabilities/terminal/local-terminal.ts';

/** One forwarded invocation. */
export interface ControlScope {
  home: Home;
  fleet: Fleet;
  /** The client's working directory (relative local paths resolve against it). */
  cwd: string;
  /** Aborted when the client presses Ctrl-C or goes away. */
  signal: AbortSignal;
  /** Whether the client's stdout is a terminal that wants colour. */
  color: boolean;
  write(stream: 'stdout' | 'stderr', text: string): void;
  /** Resolves once the client's socket has taken what was written (backpressure for output). */
  drained(): Promise<void>;
  progress(label: string, done: number, total: number, end: boolean): void;
  /** The client's terminal (stdin, raw mode, size, raw output), for `flotilla shell`. */
  terminal?: LocalTerminal;
}

const storage = new AsyncLocalStorage<ControlScope>();

/** The scope of the forwarded invocation being served, if any. */
export function currentScope(): ControlScope | undefined {
  return storage.getStore();
}

/** Runs `fn` as the forwarded invocation `scope`. */
export function runInScope<T>(scope: ControlScope, fn: () => Promise<T>): Promise<T> {
  return storage.run(scope, fn);
}
