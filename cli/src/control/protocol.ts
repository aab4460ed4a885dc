// The control socket's wire format (warm mode): frames of [u32 big-endian length][UTF-8 JSON],
// one message per frame, every message checked by a parser that returns null when malformed.
// The same file is used by the thin client and by the control process.

/** Bumped when a message changes shape; a mismatch makes the client fall back to dialling (2: terminals). */
export const CONTROL_VERSION = 2;
/** Largest frame either side accepts (output is sent in pieces well below this). */
export const MAX_FRAME = 1024 * 1024;
/** Output text is split into frames of at most this many characters. */
export const WRITE_PIECE = 256 * 1024;
/** Largest piece of terminal input or output in one frame, in bytes (base64 in the frame). */
export const BYTES_PIECE = 64 * 1024;
/** Largest terminal width and height (the terminal capability's bounds). */
const MAX_SIZE = 1000;

/** Client → control process. */
export type ClientMessage =
  | {
      type: 'invoke';
      v: number;
      argv: string[];
      cwd: string;
      stdoutTty: boolean;
      stderrTty: boolean;
      color: boolean;
      /** Whether the client's stdin is a terminal (a shell then runs in raw mode). */
      stdinTty?: boolean;
      /** The client's terminal size, when stdout is one. */
      cols?: number;
      rows?: number;
    }
  | { type: 'cancel' }
  /** Terminal input for the running shell (after `terminal` asked for it): base64, at most BYTES_PIECE bytes. */
  | { type: 'stdin'; data: string }
  /** The client's stdin ended (piped input). */
  | { type: 'eof' }
  /** The client's terminal was resized (SIGWINCH). */
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'status'; v: number }
  | { type: 'stop'; v: number };

/** What `flotilla connect --status` shows. */
export interface ControlStatus {
  pid: number;
  home: string;
  startedAt: number;
  lastUsedAt: number;
  persistMs: number;
  expiresAt: number;
  requests: number;
  active: number;
  connections: { id: string; name: string }[];
  /** Terminal sessions (`flotilla shell`) running through the control process. */
  terminals: { host: string; session: string }[];
}

/** Control process → client. */
export type ServerMessage =
  | { type: 'write'; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'progress'; label: string; done: number; total: number; end: boolean }
  | { type: 'exit'; code: number }
  | { type: 'refused'; reason: string }
  | { type: 'status'; status: ControlStatus }
  | { type: 'bye' }
  /** A shell wants the client's stdin (stdin, eof, resize); raw: the client's terminal in raw mode, or back to how it was. */
  | { type: 'terminal'; raw: boolean }
  /** Raw terminal output for stdout (base64, at most BYTES_PIECE bytes), unlike `write`'s text. */
  | { type: 'output'; data: string }
  /** The shell's session on its host, so that a client left by a dying control process can say how to reattach. */
  | { type: 'session'; host: string; session: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown, max = 65_536): v is string => typeof v === 'string' && v.length <= max;
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isSize = (v: unknown): v is number => isNat(v) && v >= 1 && v <= MAX_SIZE;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Base64 of at most BYTES_PIECE bytes. */
const isBytes = (v: unknown): v is string =>
  isStr(v, Math.ceil(BYTES_PIECE / 3) * 4) &&
  v.length % 4 === 0 &&
  (v.length / 4) * 3 - (v.endsWith('==') ? 2 : v.endsWith('=') ? 1 : 0) <= BYTES_PIECE &&
  BASE64.test(v);

/** Encodes one message as a frame. */
export function encodeFrame(message: ClientMessage | ServerMessage): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(message));
  if (json.length > MAX_FRAME) throw new RangeError(`control frame of ${json.length} bytes exceeds ${MAX_FRAME}`);
  const frame = new Uint8Array(4 + json.length);
  new DataView(frame.buffer).setUint32(0, json.length);
  frame.set(json, 4);
  return frame;
}

/**
 * Encodes `{type, data: base64 of bytes}` (stdin or output, at most BYTES_PIECE bytes) as encodeFrame
 * would, with one string and one buffer instead of four copies: a 50 MB cat passes through here.
 */
export function encodeBytesFrame(type: 'stdin' | 'output', bytes: Uint8Array): Uint8Array {
  if (bytes.length > BYTES_PIECE) throw new RangeError(`${bytes.length} bytes exceed a piece of ${BYTES_PIECE}`);
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
  const head = `{"type":"${type}","data":"`;
  const frame = Buffer.allocUnsafe(4 + head.length + data.length + 2);
  frame.writeUInt32BE(frame.length - 4, 0);
  frame.write(head, 4, 'latin1');
  frame.write(data, 4 + head.length, 'latin1');
  frame.write('"}', frame.length - 2, 'latin1');
  return frame;
}

/**
 * Splits a byte stream into frames and hands each decoded JSON value to `onValue`. A length
 * over MAX_FRAME or bytes that are not JSON call `onError` once; the reader then ignores the rest.
 */
export function createFrameReader(onValue: (value: unknown) => void, onError: (reason: string) => void) {
  let buffer = new Uint8Array(0);
  let broken = false;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return {
    push(chunk: Uint8Array) {
      if (broken) return;
      const joined = new Uint8Array(buffer.length + chunk.length);
      joined.set(buffer);
      joined.set(chunk, buffer.length);
      buffer = joined;
      while (buffer.length >= 4) {
        const length = new DataView(buffer.buffer, buffer.byteOffset).getUint32(0);
        if (length > MAX_FRAME) {
          broken = true;
          onError(`frame of ${length} bytes exceeds ${MAX_FRAME}`);
          return;
        }
        if (buffer.length < 4 + length) return;
        const body = buffer.subarray(4, 4 + length);
        buffer = buffer.slice(4 + length);
        let value: unknown;
        try {
          value = JSON.parse(decoder.decode(body));
        } catch {
          broken = true;
          onError('frame is not UTF-8 JSON');
          return;
        }
        onValue(value);
      }
    },
  };
}

/** Validates a message from a client; null when malformed. */
export function parseClientMessage(value: unknown): ClientMessage | null {
  if (!isObj(value)) return null;
  switch (value['type']) {
    case 'invoke': {
      const { v, argv, cwd, stdoutTty, stderrTty, color } = value;
      if (!isNat(v) || !isStr(cwd, 4096) || !isBool(stdoutTty) || !isBool(stderrTty) || !isBool(color)) return null;
      if (!Array.isArray(argv) || argv.length > 4096 || !argv.every((a) => isStr(a))) return null;
      const { stdinTty, cols, rows } = value;
      if ((stdinTty !== undefined && !isBool(stdinTty)) || (cols !== undefined && !isSize(cols)) || (rows !== undefined && !isSize(rows))) return null;
      return {
        type: 'invoke',
        v,
        argv: argv as string[],
        cwd,
        stdoutTty,
        stderrTty,
        color,
        ...(stdinTty === undefined ? {} : { stdinTty }),
        ...(cols === undefined ? {} : { cols }),
        ...(rows === undefined ? {} : { rows }),
      };
    }
    case 'cancel':
    case 'eof':
      return { type: value['type'] };
    case 'stdin':
      return isBytes(value['data']) ? { type: 'stdin', data: value['data'] } : null;
    case 'resize': {
      const { cols, rows } = value;
      return isSize(cols) && isSize(rows) ? { type: 'resize', cols, rows } : null;
    }
    case 'status':
    case 'stop':
      return isNat(value['v']) ? { type: value['type'], v: value['v'] } : null;
    default:
      return null;
  }
}

function parseStatus(value: unknown): ControlStatus | null {
  if (!isObj(value)) return null;
  const numbers = ['pid', 'startedAt', 'lastUsedAt', 'persistMs', 'expiresAt', 'requests', 'active'] as const;
  if (!numbers.every((k) => isNat(value[k])) || !isStr(value['home'], 4096)) return null;
  const connections = value['connections'];
  if (!Array.isArray(connections) || !connections.every((c) => isObj(c) && isStr(c['id'], 64) && isStr(c['name'], 256))) return null;
  // Absent from a control process older than terminals.
  const terminals = value['terminals'] ?? [];
  if (!Array.isArray(terminals) || terminals.length > 4096 || !terminals.every((t) => isObj(t) && isStr(t['host'], 256) && isStr(t['session'], 64)))
    return null;
  return {
    pid: value['pid'] as number,
    home: value['home'],
    startedAt: value['startedAt'] as number,
    lastUsedAt: value['lastUsedAt'] as number,
    persistMs: value['persistMs'] as number,
    expiresAt: value['expiresAt'] as number,
    requests: value['requests'] as number,
    active: value['active'] as number,
    connections: (connections as Obj[]).map((c) => ({ id: c['id'] as string, name: c['name'] as string })),
    terminals: (terminals as Obj[]).map((t) => ({ host: t['host'] as string, session: t['session'] as string })),
  };
}

/** Validates a message from the control process; null when malformed. */
export function parseServerMessage(value: unknown): ServerMessage | null {
  if (!isObj(value)) return null;
  switch (value['type']) {
    case 'write': {
      const { stream, text } = value;
      return (stream === 'stdout' || stream === 'stderr') && isStr(text, MAX_FRAME) ? { type: 'write', stream, text } : null;
    }
    case 'progress': {
      const { label, done, total, end } = value;
      return isStr(label, 1024) && isNat(done) && isNat(total) && isBool(end) ? { type: 'progress', label, done, total, end } : null;
    }
    case 'exit':
      return isNat(value['code']) && value['code'] < 256 ? { type: 'exit', code: value['code'] } : null;
    case 'refused':
      return isStr(value['reason'], 4096) ? { type: 'refused', reason: value['reason'] } : null;
    case 'status': {
      const status = parseStatus(value['status']);
      return status ? { type: 'status', status } : null;
    }
    case 'bye':
      return { type: 'bye' };
    case 'terminal':
      return isBool(value['raw']) ? { type: 'terminal', raw: value['raw'] } : null;
    case 'output':
      return isBytes(value['data']) ? { type: 'output', data: value['data'] } : null;
    case 'session': {
      const { host, session } = value;
      return isStr(host, 256) && isStr(session, 64) ? { type: 'session', host, session } : null;
    }
    default:
      return null;
  }
}

/** The control socket inside a CLI home. */
export function socketPath(home: string): string {
  return `${home.replace(/\/+$/, '')}/control.sock`;
}
