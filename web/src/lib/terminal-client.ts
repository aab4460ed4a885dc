// The browser's side of a terminal session (capabilities/terminal/spec.ts): opens a shell or
// reattaches to the one this tab had, writes output to the screen by offset (every byte once),
// acknowledges what the screen has drawn (flow control), sends keys and sizes, and after a
// dropped connection reattaches from the first byte it lacks. The session id lives in
// sessionStorage: a reload of the tab finds its session again, another tab starts its own.

import { call, type AgentConnection } from '../../../shared/controller/agent-connection.ts';
import { FlotillaError, fromWireError } from '../../../shared/wire/errors.ts';
import { MAX_INPUT, spec, type TerminalOpen } from '../../../capabilities/terminal/spec.ts';

/** What the view shows of the session. */
export type TerminalStatus =
  | { kind: 'connecting' }
  | { kind: 'open'; session: string; note?: string }
  | { kind: 'reconnecting'; reason: string }
  | { kind: 'ended'; exit?: number; signal?: string }
  | { kind: 'failed'; message: string };

/** Where output goes: the xterm wrapper (web/src/components/Terminal.svelte). */
export interface TerminalScreen {
  /** Draws bytes; `done` once they are parsed; `quiet`: a replay, whose query answers are dropped. */
  write(data: Uint8Array, done?: () => void, quiet?: boolean): void;
  /** Clears everything (before the session's output is shown again from its start). */
  reset(): void;
  size(): { cols: number; rows: number };
}

/** Remembers the session of one host for this tab. */
export interface SessionMemory {
  get(): string | undefined;
  set(session: string): void;
  forget(): void;
}

/** A running client; its connection attempts go on until it is detached or its session ends. */
export interface TerminalClient {
  input(bytes: Uint8Array): void;
  resize(cols: number, rows: number): void;
  /** Leaves the session running on the host and stops this client. */
  detach(): void;
  /** Hangs the session up on the host (SIGHUP to its processes). */
  end(): Promise<void>;
}

export interface TerminalClientOptions {
  connect: () => Promise<AgentConnection>;
  memory: SessionMemory;
  screen: TerminalScreen;
  onStatus: (status: TerminalStatus) => void;
  /** The sentence for an error (the app's describeError). */
  describe: (error: unknown) => string;
  /** Flow-control window asked of the agent. */
  window?: number;
}

/** Keys typed while the connection is down that are sent once it is back (more are dropped). */
const MAX_QUEUED_INPUT = 64 * 1024;
/** Waits between reattach attempts, in ms; the last one repeats. */
const RETRY_MS = [500, 1000, 2000, 4000, 8000];
const STORAGE_PREFIX = 'flotilla.terminal.';
/**
 * After an attach, output is taken as a replay (printed before this page saw it) until it pauses
 * this long: the agent sends what its ring holds in one burst.
 */
const REPLAY_QUIET_MS = 250;

/** The session of `hostId` in `fleetId` for this tab, in sessionStorage; `slot` keeps another one (a broadcast view's). */
export function sessionMemory(fleetId: string, hostId: string, slot = ''): SessionMemory {
  const key = `${STORAGE_PREFIX}${fleetId}.${hostId}${slot ? `.${slot}` : ''}`;
  return {
    get: () => sessionStorage.getItem(key) ?? undefined,
    set: (session) => sessionStorage.setItem(key, session),
    forget: () => sessionStorage.removeItem(key),
  };
}

/** Starts a client: opens a session, or reattaches to the remembered one, and keeps it attached. */
export function startTerminalClient(options: TerminalClientOptions): TerminalClient {
  const { memory, screen, onStatus } = options;
  const window = options.window ?? 256 * 1024;
  /** Offset of the next output byte expected (everything before it went to the screen). */
  let received = 0;
  /** Offset up to which the screen has parsed the output. */
  let drawn = 0;
  /** Offset last acknowledged to the agent. */
  let acked = 0;
  /** The screen shows nothing of this session yet (a new page, or a new session): replay from 0. */
  let blank = true;
  let stopped = false;
  let attempt = 0;
  let current: { connection: AgentConnection; id: string; abort: AbortController } | undefined;
  let open = false;
  let queued: Uint8Array[] = [];
  let queuedBytes = 0;
  let note: string | undefined;
  let session = memory.get();
  /** Output before this offset was printed before the current attach (when the agent says). */
  let replayEnd: number | undefined;
  /** Without the agent's word, the burst right after an attach is taken as the replay. */
  let replaying = false;
  let replayTimer: ReturnType<typeof setTimeout> | undefined;
  const replayBurst = () => {
    clearTimeout(replayTimer);
    replayTimer = setTimeout(() => (replaying = false), REPLAY_QUIET_MS);
  };

  /** The view detached: it shows nothing more. */
  let detached = false;
  const status = (s: TerminalStatus) => {
    if (!detached) onStatus(s);
  };

  function sendFollowUp(message: Parameters<AgentConnection['send']>[0], body?: Uint8Array): void {
    const target = current;
    if (!target || !open) return;
    target.connection.send(message, body).catch((error: unknown) => {
      // The request's own promise reports the dropped connection; this is only the detail.
      console.debug('[flotilla] a terminal message was not sent', error);
    });
  }

  function ack(): void {
    if (!current || !open || drawn <= acked) return;
    // Caught up, or a quarter window behind: the agent may send more.
    if (drawn === received || drawn - acked >= window / 4) {
      acked = drawn;
      sendFollowUp({ type: 'terminal.ack', id: current.id, offset: drawn });
    }
  }

  function show(offset: number, bytes: Uint8Array): void {
    // Every byte once: skip what the screen already has (a reattach overlapping what arrived).
    const end = offset + bytes.length;
    if (end <= received) return;
    const start = Math.max(offset, received);
    const fresh = bytes.subarray(start - offset);
    received = end;
    const done = () => {
      drawn = Math.max(drawn, end);
      ack();
    };
    if (replayEnd !== undefined && start < replayEnd && end > replayEnd) {
      // The replay ends inside this chunk: its answers are dropped only before the boundary.
      screen.write(fresh.subarray(0, replayEnd - start), undefined, true);
      screen.write(fresh.subarray(replayEnd - start), done);
    } else {
      if (replaying) replayBurst();
      screen.write(fresh, done, replayEnd === undefined ? replaying : start < replayEnd);
    }
  }

  function sendInput(bytes: Uint8Array): void {
    if (!current) return;
    for (let i = 0; i < bytes.length; i += MAX_INPUT) sendFollowUp({ type: 'terminal.input', id: current.id }, bytes.subarray(i, i + MAX_INPUT));
  }

  async function run(): Promise<void> {
    while (!stopped) {
      status(attempt === 0 ? { kind: 'connecting' } : { kind: 'reconnecting', reason: note ?? 'the connection closed' });
      let connection: AgentConnection;
      try {
        connection = await options.connect();
      } catch (error) {
        if (await retry(error)) continue;
        return;
      }
      if (stopped) return;
      const abort = new AbortController();
      const { cols, rows } = screen.size();
      const request: TerminalOpen = session ? { cols, rows, session, from: blank ? 0 : received, window } : { cols, rows, window };
      const reattaching = session !== undefined;
      current = { connection, id: '', abort };
      const mine = current;
      let result;
      try {
        result = await call(connection, spec, request, {
          signal: abort.signal,
          onSent: (id) => (mine.id = id),
          onEvent: (event, body) => {
            if (current !== mine) return;
            if (event.type === 'terminal.opened') {
              session = event.session;
              memory.set(session);
              if (blank) screen.reset();
              blank = false;
              received = drawn = acked = event.offset;
              // An agent that says where its replay ends (`end`) is followed exactly; else the burst.
              const end = (event as { end?: unknown }).end;
              replayEnd = typeof end === 'number' ? end : undefined;
              replaying = replayEnd === undefined;
              if (replaying) replayBurst();
              open = true;
              attempt = 0;
              note = event.lost ? `${event.lost} bytes of output were printed while detached and are no longer kept.` : undefined;
              status({ kind: 'open', session, ...(note ? { note } : {}) });
              const pending = queued;
              queued = [];
              queuedBytes = 0;
              for (const bytes of pending) sendInput(bytes);
            } else if (event.type === 'terminal.output') {
              show(event.offset, body);
            } else if (event.type === 'terminal.exit') {
              session = undefined;
              memory.forget();
            }
          },
        });
      } catch (error) {
        open = false;
        if (await retry(error)) continue;
        return;
      } finally {
        if (current === mine) {
          open = false;
          current = undefined;
        }
      }
      if (result.status !== 'ok') {
        const error = result.error ? fromWireError(result.error) : new FlotillaError('internal', `status ${result.status}`);
        if (reattaching && error.code === 'not-found') {
          // The remembered session ended or expired while this page was away: start a new one.
          session = undefined;
          memory.forget();
          blank = true;
          note = 'The previous session had ended; this is a new one.';
          continue;
        }
        stopped = true;
        status({ kind: 'failed', message: `The terminal could not be opened: ${options.describe(error)}` });
        return;
      }
      const data = result.data;
      if (data?.detached) {
        if (data.reason === 'taken-over') {
          stopped = true;
          status({ kind: 'failed', message: 'Another window took this session over. Reload to take it back.' });
        }
        return;
      }
      session = undefined;
      memory.forget();
      stopped = true;
      status({ kind: 'ended', ...(data?.exitCode === undefined ? {} : { exit: data.exitCode }), ...(data?.signal ? { signal: data.signal } : {}) });
      return;
    }
  }

  /** After a failure: waits and returns true to try again (a session to go back to), or reports it. */
  async function retry(error: unknown): Promise<boolean> {
    if (stopped) return false;
    const dropped = error instanceof FlotillaError && (error.code === 'channel-closed' || error.code === 'unreachable' || error.code === 'timeout');
    if (!dropped || (session === undefined && attempt > 2)) {
      stopped = true;
      status({ kind: 'failed', message: `The terminal could not be opened: ${options.describe(error)}` });
      return false;
    }
    note = options.describe(error);
    status({ kind: 'reconnecting', reason: note });
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
    attempt++;
    return !stopped;
  }

  void run();

  return {
    input(bytes) {
      if (stopped) return;
      if (open) sendInput(bytes);
      else if (queuedBytes + bytes.length <= MAX_QUEUED_INPUT) {
        queued.push(bytes.slice());
        queuedBytes += bytes.length;
      }
    },
    resize(cols, rows) {
      if (current && open) sendFollowUp({ type: 'terminal.resize', id: current.id, cols, rows });
      // Otherwise the next open or reattach carries the screen's size.
    },
    detach() {
      if (stopped) return;
      if (current && open) sendFollowUp({ type: 'terminal.detach', id: current.id });
      stopped = detached = true;
      clearTimeout(replayTimer);
      current = undefined;
      open = false;
    },
    async end() {
      if (!current || !open) return;
      await current.connection.send({ type: 'terminal.close', id: current.id, signal: 'HUP' });
    },
  };
}
