// The messages carried inside a secure session. The core messages (result, cancel, output,
// progress) are declared here; every other message comes from a capability's spec
// (capabilities/registry.ts). parseMessage is the one validator every side runs on what arrives.

import { FlotillaError, isErrorCode, type WireError } from './errors.ts';
import { ID_MAX, int, isObj, obj, oneOf, optInt, optStr, optional, str, type Obj } from './validate.ts';
import { capabilityParsers, CAPABILITIES, type Spec } from '../../capabilities/index.ts';
import type { EventsOf, FollowUpsOf, RequestOf } from '../../capabilities/spec.ts';

/** How a task ended on one host: the same words in agent, history, CLI and PWA. */
export const RESULT_STATUSES = ['ok', 'failed', 'timeout', 'cancelled', 'unreachable', 'interrupted'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

/** Largest JSON header of one message. */
export const MAX_HEADER_BYTES = 256 * 1024;
/** Largest binary body of one message (file chunks, output). */
export const MAX_BODY_BYTES = 1024 * 1024;
export { MAX_OUTPUT_WINDOW, MIN_OUTPUT_WINDOW } from './output-window.ts';
import { MAX_OUTPUT_WINDOW, MIN_OUTPUT_WINDOW } from './output-window.ts';

/** The messages every capability shares. */
interface CoreMessages {
  /** Stops a running request of this session (`target` is its id). */
  cancel: { id: string; target: string };
  /**
   * A chunk of a request's output; the bytes are the body. `window`: set by an agent that waits
   * for `output.ack` once this many bytes are unacknowledged.
   */
  output: { id: string; stream: 'stdout' | 'stderr'; window?: number };
  /** From the controller: it has consumed `bytes` bytes of a request's output (both streams, cumulative). */
  'output.ack': { id: string; bytes: number };
  /** How far a long request has got. */
  progress: { id: string; bytes: number; total: number };
  /** The end of a request. `data` is the capability's typed result (validated by its spec). */
  result: { id: string; status: ResultStatus; exitCode?: number; error?: WireError; data?: Obj; startedAt?: number; durationMs?: number };
}

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type WithId<M> = { [K in keyof M]: { id: string } & M[K] };

type RequestMessages = { [S in Spec as S['request']['type']]: { id: string } & RequestOf<S> };
type EventMessages = WithId<UnionToIntersection<{ [S in Spec as S['name']]: EventsOf<S> }[Spec['name']]>>;
type FollowUpMessages = WithId<UnionToIntersection<{ [S in Spec as S['name']]: FollowUpsOf<S> }[Spec['name']]>>;

/** Type → payload for every message. Requests carry `id`; replies echo it. */
export type MessageMap = CoreMessages & RequestMessages & EventMessages & FollowUpMessages;

export type MessageType = keyof MessageMap & string;
/** Any session message. */
export type Message = { [K in MessageType]: { type: K } & MessageMap[K] }[MessageType];
/** The message of one type. */
export type MessageOf<K extends MessageType> = { type: K } & MessageMap[K];

/** Request types a device sends (and the agent authorizes): each capability's, and cancel. */
export type RequestType = Spec['request']['type'] | 'cancel';
export const REQUEST_TYPES: readonly RequestType[] = [...CAPABILITIES.map((s) => s.request.type), 'cancel'];
/** Events the agent sends for a request before its result: output, progress and the capabilities'. */
export type EventType = 'output' | 'progress' | keyof EventMessages;

function id(o: Obj, key = 'id'): string {
  return str(o, key, ID_MAX, 1);
}

function parseWireError(raw: unknown): WireError {
  const o = obj(raw, 'error');
  if (!isErrorCode(o['code'])) throw new FlotillaError('bad-message', 'error.code: unknown error code');
  const detail = optStr(o, 'detail', 4096);
  return { code: o['code'], ...optional('detail', detail) };
}

const core: { [K in keyof CoreMessages]: (o: Obj) => CoreMessages[K] } = {
  cancel: (o) => ({ id: id(o), target: id(o, 'target') }),
  output: (o) => ({
    id: id(o),
    stream: oneOf(o, 'stream', ['stdout', 'stderr'] as const),
    ...optional('window', optInt(o, 'window', MIN_OUTPUT_WINDOW, MAX_OUTPUT_WINDOW)),
  }),
  'output.ack': (o) => ({ id: id(o), bytes: int(o, 'bytes', 0) }),
  progress: (o) => ({ id: id(o), bytes: int(o, 'bytes'), total: int(o, 'total') }),
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

const parsers = new Map<string, (o: Obj) => object>(Object.entries(core));
const requestTypes = new Set<string>(REQUEST_TYPES);
const eventTypes = new Set<string>(['output', 'progress']);
const followUpTypes = new Set<string>();
for (const [type, entry] of capabilityParsers()) {
  if (parsers.has(type)) throw new Error(`capabilities: wire type "${type}" is a core message`);
  parsers.set(type, (o) => ({ id: id(o), ...entry.parse(o) }));
  if (entry.kind === 'event') eventTypes.add(type);
  if (entry.kind === 'followUp') followUpTypes.add(type);
}

/** Validates anything that arrived; throws FlotillaError('bad-message') naming what is wrong. */
export function parseMessage(raw: unknown): Message {
  if (!isObj(raw)) throw new FlotillaError('bad-message', 'expected an object');
  const type = raw['type'];
  const parse = typeof type === 'string' ? parsers.get(type) : undefined;
  if (!parse) throw new FlotillaError('bad-message', `unknown message type ${JSON.stringify(String(type).slice(0, 40))}`);
  return { type, ...parse(raw) } as Message;
}

/** True for request types that a device may send. */
export function isRequest(message: Message): message is Extract<Message, { type: RequestType }> {
  return requestTypes.has(message.type);
}

/** Follow-up messages a controller sends after a request, with its id (push chunks). */
export type FollowUpType = keyof FollowUpMessages;

/** True for a follow-up of an earlier request. */
export function isFollowUp(message: Message): message is Extract<Message, { type: FollowUpType }> {
  return followUpTypes.has(message.type);
}

/** True for the events an agent sends for a request before its result. */
export function isEvent(message: Message): message is Extract<Message, { type: EventType }> {
  return eventTypes.has(message.type);
}
