// The messages carried inside a secure session. A map from type to payload derives the
// union, and parseMessage is the one validator every side runs on what arrives.

import { FlotillaError, isErrorCode, type WireError } from './errors.ts';
import { int, isObj, obj, oneOf, optInt, optStr, optStrMap, str, strArray, strMap, optBool, type Obj } from './validate.ts';

/** How a task ended on one host: the same words in agent, history, CLI and PWA. */
export const RESULT_STATUSES = ['ok', 'failed', 'timeout', 'cancelled', 'unreachable', 'interrupted'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

/** Largest JSON header of one message. */
export const MAX_HEADER_BYTES = 256 * 1024;
/** Largest binary body of one message (file chunks, output). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Bounds of an exec's output window (flow control: bytes sent and not yet acknowledged). */
export const MIN_OUTPUT_WINDOW = 64 * 1024;
export const MAX_OUTPUT_WINDOW = 64 * 1024 * 1024;
const ID_MAX = 64;
const PATH_MAX = 4096;

/** Type → payload for every message. Requests carry `id`; replies echo it. */
export interface MessageMap {
  ping: { id: string };
  facts: { id: string };
  /**
   * `attach`: the controller lost its connection while this task ran and has seen this many
   * bytes of each stream; the agent sends the rest and the result (or runs the task if it never
   * arrived).
   */
  exec: { id: string; task: string; cmd: string; cwd?: string; env?: Record<string, string>; stdin?: string; timeoutMs?: number; user?: string; attach?: { stdout: number; stderr: number }; window?: number };
  cancel: { id: string; target: string };
  'push.begin': { id: string; task: string; path: string; size: number; sha256: string; mode: number; overwrite?: boolean };
  'push.chunk': { id: string; offset: number };
  'push.end': { id: string };
  fetch: { id: string; task: string; path: string };
  journal: { id: string; tasks?: string[]; since?: number };
  'tags.set': { id: string; tags: Record<string, string>; replace?: boolean };
  'host.cert': { id: string; cert: Obj };
  audit: { id: string; limit?: number };
  /** `window`: set by an agent that waits for `output.ack` once this many bytes are unacknowledged. */
  output: { id: string; stream: 'stdout' | 'stderr'; window?: number };
  /** From the controller: it has consumed `bytes` bytes of a request's output (both streams, cumulative). */
  'output.ack': { id: string; bytes: number };
  progress: { id: string; bytes: number; total: number };
  'fetch.chunk': { id: string; offset: number };
  result: { id: string; status: ResultStatus; exitCode?: number; error?: WireError; data?: Obj; startedAt?: number; durationMs?: number };
}

export type MessageType = keyof MessageMap;
/** Any session message. */
export type Message = { [K in MessageType]: { type: K } & MessageMap[K] }[MessageType];
/** The message of one type. */
export type MessageOf<K extends MessageType> = { type: K } & MessageMap[K];

/** Request types a device sends (and the agent authorizes). */
export const REQUEST_TYPES = ['ping', 'facts', 'exec', 'cancel', 'push.begin', 'fetch', 'journal', 'tags.set', 'host.cert', 'audit'] as const;
export type RequestType = (typeof REQUEST_TYPES)[number];

function id(o: Obj, key = 'id'): string {
  return str(o, key, ID_MAX, 1);
}

function optional<T>(key: string, value: T | undefined): Record<string, T> {
  return value === undefined ? {} : { [key]: value };
}

/** Byte counts per output stream (an exec's `attach`). */
function offsets(o: Obj): { stdout: number; stderr: number } {
  return { stdout: int(o, 'stdout', 0), stderr: int(o, 'stderr', 0) };
}

function parseWireError(raw: unknown): WireError {
  const o = obj(raw, 'error');
  if (!isErrorCode(o['code'])) throw new FlotillaError('bad-message', 'error.code: unknown error code');
  const detail = optStr(o, 'detail', 4096);
  return { code: o['code'], ...optional('detail', detail) };
}

const parsers: { [K in MessageType]: (o: Obj) => MessageMap[K] } = {
  ping: (o) => ({ id: id(o) }),
  facts: (o) => ({ id: id(o) }),
  exec: (o) => ({
    id: id(o),
    task: id(o, 'task'),
    cmd: str(o, 'cmd', 128 * 1024, 1),
    ...optional('cwd', optStr(o, 'cwd', PATH_MAX)),
    ...optional('env', optStrMap(o, 'env')),
    ...optional('stdin', optStr(o, 'stdin', 1024 * 1024)),
    ...optional('timeoutMs', optInt(o, 'timeoutMs', 1, 7 * 24 * 3600_000)),
    ...optional('user', optStr(o, 'user', 64)),
    ...optional('attach', o['attach'] === undefined ? undefined : offsets(obj(o['attach'], 'attach'))),
    ...optional('window', optInt(o, 'window', MIN_OUTPUT_WINDOW, MAX_OUTPUT_WINDOW)),
  }),
  cancel: (o) => ({ id: id(o), target: id(o, 'target') }),
  'push.begin': (o) => ({
    id: id(o),
    task: id(o, 'task'),
    path: str(o, 'path', PATH_MAX, 1),
    size: int(o, 'size', 0),
    sha256: str(o, 'sha256', 64, 64),
    mode: int(o, 'mode', 0, 0o7777),
    ...optional('overwrite', optBool(o, 'overwrite')),
  }),
  'push.chunk': (o) => ({ id: id(o), offset: int(o, 'offset', 0) }),
  'push.end': (o) => ({ id: id(o) }),
  fetch: (o) => ({ id: id(o), task: id(o, 'task'), path: str(o, 'path', PATH_MAX, 1) }),
  journal: (o) => ({
    id: id(o),
    ...optional('tasks', o['tasks'] === undefined ? undefined : strArray(o, 'tasks', 1000, ID_MAX)),
    ...optional('since', optInt(o, 'since')),
  }),
  'tags.set': (o) => ({ id: id(o), tags: strMap(o, 'tags', 64, 256), ...optional('replace', optBool(o, 'replace')) }),
  'host.cert': (o) => ({ id: id(o), cert: obj(o['cert'], 'cert') }),
  audit: (o) => ({ id: id(o), ...optional('limit', optInt(o, 'limit', 1, 10_000)) }),
  output: (o) => ({ id: id(o), stream: oneOf(o, 'stream', ['stdout', 'stderr'] as const), ...optional('window', optInt(o, 'window', MIN_OUTPUT_WINDOW, MAX_OUTPUT_WINDOW)) }),
  'output.ack': (o) => ({ id: id(o), bytes: int(o, 'bytes', 0) }),
  progress: (o) => ({ id: id(o), bytes: int(o, 'bytes'), total: int(o, 'total') }),
  'fetch.chunk': (o) => ({ id: id(o), offset: int(o, 'offset') }),
  result: (o) => ({
    id: id(o),
    status: oneOf(o, 'status', RESULT_STATUSES),
    ...optional('exitCode', optInt(o, 'exitCode', -1_000_000, 1_000_000)),
    ...optional('error', o['error'] === undefined ? undefined : parseWireError(o['error'])),
    ...optional('data', o['data'] === undefined ? undefined : obj(o['data'], 'data')),
    ...optional('startedAt', optInt(o, 'startedAt')),
    ...optional('durationMs', optInt(o, 'durationMs')),
  }),
};

/** Validates anything that arrived; throws FlotillaError('bad-message') naming what is wrong. */
export function parseMessage(raw: unknown): Message {
  if (!isObj(raw)) throw new FlotillaError('bad-message', 'expected an object');
  const type = raw['type'];
  if (typeof type !== 'string' || !Object.hasOwn(parsers, type)) {
    throw new FlotillaError('bad-message', `unknown message type ${JSON.stringify(String(type).slice(0, 40))}`);
  }
  const parse = parsers[type as MessageType] as (o: Obj) => object;
  return { type, ...parse(raw) } as Message;
}

/** True for request types that a device may send. */
export function isRequest(message: Message): message is Extract<Message, { type: RequestType }> {
  return (REQUEST_TYPES as readonly string[]).includes(message.type);
}
