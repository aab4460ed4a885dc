// terminal: an interactive pseudo-terminal on the host (the run-as user's login shell, or a given
// command), its input, output and size carried over the secure session.
//
// The wire protocol, in the order a controller meets it:
//
//   controller                                   agent
//   terminal.open {cols, rows, command?, …}  ->
//                                            <-  terminal.opened {session, offset, lost, …}
//                                            <-  terminal.output {offset} + bytes   (repeated)
//   terminal.ack {offset}                    ->  (flow control, see below)
//   terminal.input {text | base64} or bytes  ->
//   terminal.resize {cols, rows}             ->
//                                            <-  terminal.exit {exitCode, signal?, offset}
//                                            <-  result {status: ok, exitCode, data: {session, exitCode, …}}
//
// Output offsets: every byte the session's pty ever printed has an offset, counted from 0 at the
// session's start. `terminal.output.offset` is the offset of the first byte of its body, so a
// client knows exactly what it has (offset + body length is the next byte it expects). The agent
// keeps the last RING bytes of output (a ring buffer, 256 KiB by default) even while no client
// is attached.
//
// Reattach: the session outlives its request. When the connection drops, the request is
// cancelled or the client sends `terminal.detach`, the session keeps running on the agent for the
// agent's detach time (10 minutes by default; `terminal.opened.detachMs`). A later
// `terminal.open {session, from}` (from the same device, or an admin) reattaches: the agent sends
// every byte from offset `from` on, each once; if some of them have left the ring meanwhile it
// starts at the oldest byte it still has and says how many were lost (`terminal.opened.lost`).
// A session has at most one client: a reattach takes it over, and the previous request ends with
// `data.detached: true, reason: 'taken-over'`. A reattach's `cols` and `rows` resize the session.
// A session whose program ended while no client was attached is kept (its ring and exit status)
// for the detach time: a reattach then gets the rest of the output, `terminal.exit` and the result.
//
// Flow control: the agent has at most `window` bytes (the open request's, 256 KiB by default,
// never more than the ring) sent and not acknowledged. The client acknowledges with
// `terminal.ack {offset}`: it has consumed (rendered, written to stdout) every byte before
// `offset`. Ack after each chunk, or at least whenever half a window is unacknowledged. While the
// client is a window behind, the agent stops sending and pauses reading the pty, so a program
// writing fast (cat of a large file) blocks on its terminal instead of growing memory. While no
// client is attached the pty is read on and the ring keeps only the latest bytes.
//
// Ending: `terminal.close` hangs the session up (SIGHUP to its process group, then SIGKILL after
// a grace time); the program's exit sends `terminal.exit` then the result. The request's result
// is `ok` with `data.exitCode` (and `exitCode`) when the program ended, or `ok` with
// `data.detached: true` when the client detached (detach, cancel, taken over); the session is
// then still alive.
//
// Liveness: an agent that says `pings: true` in `terminal.opened` answers `terminal.ping` with
// `terminal.pong {offset}` (its output's end). A client pings every few seconds and, when nothing
// of the session arrives for a while, drops the connection and reattaches over a new one
// (liveness.ts): a network cut is noticed sooner than the link's own watchdog would, and a path
// that came back wedged is left. A client never pings an agent that did not say `pings`.
//
// Input: a `terminal.input` carries its bytes as the message body (binary), or as `text` (UTF-8)
// or `base64` when the body is empty; at most 64 KiB each (split larger pastes, in order).
//
// Refusals (a `failed` result before any event, audited): a viewer (`forbidden`), a device whose
// certificate denies shell (`forbidden`), a user the agent's policy does not allow
// (`policy-refused`), too many sessions (`rate-limited`), a session that does not exist or
// ended (`not-found`), another device's session (`forbidden`).
import { defineCapability } from '../spec.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { bool, int, optional, optInt, optStr, str, type Obj } from '../../shared/wire/validate.ts';

/** Largest terminal width and height. */
export const MAX_COLS = 1000;
export const MAX_ROWS = 1000;
/** Default and bounds of the flow-control window (bytes sent and not acknowledged). */
export const DEFAULT_TERMINAL_WINDOW = 256 * 1024;
export const MIN_TERMINAL_WINDOW = 16 * 1024;
export const MAX_TERMINAL_WINDOW = 4 * 1024 * 1024;
/** Largest input of one `terminal.input` (text characters, base64 characters, or body bytes). */
export const MAX_INPUT = 64 * 1024;
/** Longest session id. */
export const SESSION_ID_MAX = 64;

/** Signals `terminal.close` may send (HUP, the default, is what a terminal closing sends). */
export const CLOSE_SIGNALS = ['HUP', 'TERM', 'KILL'] as const;
export type CloseSignal = (typeof CLOSE_SIGNALS)[number];

/** Why a request ended while its session lives on. */
export const DETACH_REASONS = ['detached', 'cancelled', 'taken-over'] as const;
export type DetachReason = (typeof DETACH_REASONS)[number];

/** The open request. */
export interface TerminalOpen {
  /** Terminal size in characters. */
  cols: number;
  rows: number;
  /**
   * A shell line run by the user's login shell with -c (`sh -s`, `top`); absent: an interactive
   * login shell. Ignored on reattach.
   */
  command?: string;
  /** Run as this user (when the agent's policy allows it); absent: the policy's runAs, or the agent's user. */
  user?: string;
  /** TERM of the new session (default xterm-256color). */
  term?: string;
  /** Reattach to this running session instead of starting one. */
  session?: string;
  /** With `session`: the offset of the first output byte the client has not seen (default 0). */
  from?: number;
  /** Flow control: bytes the agent may have sent and not had acknowledged (default 256 KiB). */
  window?: number;
}

/** The first event of every successful open or reattach. */
export interface TerminalOpened {
  /** The session id, for reattach and `terminal.list`. */
  session: string;
  /** True when this request reattached to a running session. */
  reattached: boolean;
  /** Offset of the first output byte that follows (`from`, or later when bytes were lost). */
  offset: number;
  /** Output bytes between `from` and `offset` that the ring no longer held (0 when none). */
  lost: number;
  cols: number;
  rows: number;
  /** The user the session runs as. */
  user: string;
  /** The pty's child process id on the host. */
  pid: number;
  /** How long the session survives with no client attached, in ms. */
  detachMs: number;
  /** The window the agent applies (the request's, bounded). */
  window: number;
  /** The recording's id (`recordings`), when the agent records sessions. */
  recording?: string;
  /** The agent answers `terminal.ping` with `terminal.pong` (absent from agents before it did). */
  pings?: boolean;
}

/** How the program ended. */
export interface TerminalExit {
  /** Exit status; 128 + n when killed by signal n (as a shell reports it). */
  exitCode: number;
  /** The signal's name (without SIG) when a signal ended it. */
  signal?: string;
  /** The output's end offset (every byte before it was sent before this event). */
  offset: number;
}

/** The result's data. */
export interface TerminalResult {
  session: string;
  /** Set when the program ended. */
  exitCode?: number;
  signal?: string;
  /** Set when the request ended but the session lives on (reattach with `session`). */
  detached?: boolean;
  reason?: DetachReason;
  /** The output's end offset when the request ended. */
  offset: number;
}

function size(o: Obj): { cols: number; rows: number } {
  return { cols: int(o, 'cols', 1, MAX_COLS), rows: int(o, 'rows', 1, MAX_ROWS) };
}

function sessionId(o: Obj, key = 'session'): string {
  return str(o, key, SESSION_ID_MAX, 1);
}

const SIGNAL_NAME = /^[A-Z0-9]{1,12}$/;
function optSignal(o: Obj): string | undefined {
  const value = optStr(o, 'signal', 12);
  if (value !== undefined && !SIGNAL_NAME.test(value)) throw new FlotillaError('bad-message', 'signal: expected a signal name such as HUP');
  return value;
}

function oneOfOpt<T extends string>(o: Obj, key: string, values: readonly T[]): T | undefined {
  const value = o[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
    throw new FlotillaError('bad-message', `${key}: expected one of ${values.join(', ')}`);
  }
  return value as T;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export const spec = defineCapability({
  name: 'terminal',
  doc: 'an interactive terminal (login shell or a command) in a pty: input, output with byte offsets and acks, resize, reattach after a drop, recorded',
  request: {
    type: 'terminal.open',
    parse: (o): TerminalOpen => {
      const session = o['session'] === undefined ? undefined : sessionId(o);
      const from = optInt(o, 'from', 0);
      if (from !== undefined && session === undefined) throw new FlotillaError('bad-message', 'from: only with session (a reattach)');
      const term = optStr(o, 'term', 64);
      if (term !== undefined && !/^[A-Za-z0-9._+-]+$/.test(term))
        throw new FlotillaError('bad-message', 'term: letters, digits, dot, dash, plus or underscore');
      return {
        ...size(o),
        ...optional('command', optStr(o, 'command', 128 * 1024)),
        ...optional('user', optStr(o, 'user', 64)),
        ...optional('term', term),
        ...optional('session', session),
        ...optional('from', from),
        ...optional('window', optInt(o, 'window', MIN_TERMINAL_WINDOW, MAX_TERMINAL_WINDOW)),
      };
    },
  },
  events: {
    'terminal.opened': (o): TerminalOpened => ({
      session: sessionId(o),
      reattached: bool(o, 'reattached'),
      offset: int(o, 'offset', 0),
      lost: int(o, 'lost', 0),
      ...size(o),
      user: str(o, 'user', 64),
      pid: int(o, 'pid', 0),
      detachMs: int(o, 'detachMs', 0),
      window: int(o, 'window', 1),
      ...optional('recording', optStr(o, 'recording', 128)),
      ...optional('pings', o['pings'] === undefined ? undefined : bool(o, 'pings')),
    }),
    /** Output bytes (the body) starting at `offset` of the session's output. */
    'terminal.output': (o) => ({ offset: int(o, 'offset', 0) }),
    /** The answer to `terminal.ping`: the session's output end offset on the agent. */
    'terminal.pong': (o) => ({ offset: int(o, 'offset', 0) }),
    'terminal.exit': (o): TerminalExit => ({
      exitCode: int(o, 'exitCode', -1_000_000, 1_000_000),
      ...optional('signal', optSignal(o)),
      offset: int(o, 'offset', 0),
    }),
  },
  followUps: {
    /** Keystrokes or a paste: the body's bytes, or `text` (UTF-8), or `base64`. */
    'terminal.input': (o) => {
      const text = optStr(o, 'text', MAX_INPUT);
      const base64 = optStr(o, 'base64', Math.ceil(MAX_INPUT / 3) * 4);
      if (text !== undefined && base64 !== undefined) throw new FlotillaError('bad-message', 'terminal.input: text or base64, not both');
      if (base64 !== undefined && (base64.length % 4 !== 0 || !BASE64.test(base64))) throw new FlotillaError('bad-message', 'base64: not base64');
      return { ...optional('text', text), ...optional('base64', base64) };
    },
    'terminal.resize': (o) => size(o),
    /** The client has consumed every output byte before `offset`. */
    'terminal.ack': (o) => ({ offset: int(o, 'offset', 0) }),
    /** Are you there? Answered by `terminal.pong` (only by an agent that said `pings`). */
    'terminal.ping': () => ({}),
    /** Leave the session running and end this request (`data.detached`). */
    'terminal.detach': () => ({}),
    /** End the session: the signal (default HUP) to its process group. */
    'terminal.close': (o) => ({ ...optional('signal', oneOfOpt(o, 'signal', CLOSE_SIGNALS)) }),
  },
  result: (d): TerminalResult => ({
    session: sessionId(d),
    ...optional('exitCode', optInt(d, 'exitCode', -1_000_000, 1_000_000)),
    ...optional('signal', optSignal(d)),
    ...optional('detached', d['detached'] === undefined ? undefined : bool(d, 'detached')),
    ...optional('reason', oneOfOpt(d, 'reason', DETACH_REASONS)),
    offset: int(d, 'offset', 0),
  }),
  role: 'operator',
  permission: 'shell',
  traits: { audit: (r) => (r.session ? `reattach ${r.session}` : (r.command ?? 'login shell')).slice(0, 500) },
  cli: [
    {
      name: 'shell',
      usage: [
        'shell <host> [--user U] [--attach SESSION] [--list] [-- <command…>]',
        '(an interactive terminal on one host: its login shell, or the command;',
        "exits with the remote status; '~.' after a newline leaves, detached;",
        'stdin that is not a terminal is sent as input: shell web-1 -- sh -s < script.sh)',
      ],
      options: { user: { type: 'string' }, attach: { type: 'string' }, list: { type: 'boolean' } },
      warm: true,
    },
  ],
  web: { hostTab: { label: 'Terminal', order: 5 } },
});
