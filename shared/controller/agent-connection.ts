// One controller-side connection to an agent: multiplexes requests by id over the secure
// session, routes streamed events (output, progress, file chunks) to their request.

import { FlotillaError, fromWireError } from '../wire/errors.ts';
import { randomBytes } from '../identity/crypto.ts';
import { toBase32 } from '../wire/encoding.ts';
import { isEvent, MAX_HEADER_BYTES, type EventType, type Message, type MessageOf } from '../wire/protocol.ts';
import { optBool, optInt, optional, optStr, type Obj } from '../wire/validate.ts';
import type { AnySpec, DataOf, RequestOf } from '../../capabilities/spec.ts';
import type { SecureSession } from '../session/session.ts';
import type { PathInfo } from '../session/transport.ts';

/** A result message. */
export type Result = MessageOf<'result'>;
/** Streamed events a request may receive before its result (core ones and capabilities'). */
export type RequestEvent = Extract<Message, { type: EventType }>;

/** Distributes Omit over a union, so each request type keeps its own fields. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A request without its id (the connection assigns one). */
export type RequestBody = DistributiveOmit<Extract<Message, { id: string }>, 'id'>;

/** Options of one request. */
export interface RequestOptions {
  onEvent?: (event: RequestEvent, body: Uint8Array) => void;
  /** Called right after the request is sent, with its id (to send follow-ups or cancel). */
  onSent?: (id: string) => void;
  signal?: AbortSignal;
}

/** An open, authenticated connection to one agent. */
export interface AgentConnection {
  readonly hostId: string;
  readonly session: SecureSession;
  readonly closed: boolean;
  /** Sends a request and resolves with its result (rejects only if the channel closes). */
  request(body: RequestBody, options?: RequestOptions, payload?: Uint8Array): Promise<Result>;
  /** Sends a follow-up message for a request (push chunks). */
  send(message: Message, body?: Uint8Array): Promise<void>;
  path(): Promise<PathInfo | undefined>;
  /** Called whenever ICE selects another candidate pair (see RawLink.onPathChange). */
  onPathChange(handler: () => void): void;
  close(): void;
  onClose(handler: (error: FlotillaError | undefined) => void): void;
}

/** Makes a request id: short, unique within the connection. */
export function newRequestId(): string {
  return toBase32(randomBytes(10));
}

/** Wraps a secure session as an AgentConnection. */
export function createAgentConnection(hostId: string, session: SecureSession): AgentConnection {
  const pending = new Map<string, { resolve: (r: Result) => void; reject: (e: FlotillaError) => void; options: RequestOptions }>();
  let closeError: FlotillaError | undefined;

  session.onMessage((message, body) => {
    if (message.type === 'result') {
      const entry = pending.get(message.id);
      if (!entry) return;
      pending.delete(message.id);
      entry.resolve(message);
      return;
    }
    if (isEvent(message)) pending.get(message.id)?.options.onEvent?.(message, body);
  });
  session.onClose((error) => {
    closeError = error ?? new FlotillaError('channel-closed', 'the connection closed');
    for (const entry of pending.values()) entry.reject(closeError);
    pending.clear();
  });

  return {
    hostId,
    session,
    get closed() {
      return session.closed;
    },
    request(body, options = {}, payload) {
      if (session.closed) return Promise.reject(closeError ?? new FlotillaError('channel-closed'));
      const id = newRequestId();
      const message = { ...body, id } as Message;
      return new Promise<Result>((resolve, reject) => {
        pending.set(id, { resolve, reject, options });
        const onAbort = () => {
          if (pending.has(id)) void session.send({ type: 'cancel', id: newRequestId(), target: id }).catch(() => undefined);
        };
        options.signal?.addEventListener('abort', onAbort, { once: true });
        // One signal often covers a request per host: drop the listener when this one ends.
        const settle = pending.get(id)!;
        pending.set(id, {
          ...settle,
          resolve: (r) => (options.signal?.removeEventListener('abort', onAbort), resolve(r)),
          reject: (e) => (options.signal?.removeEventListener('abort', onAbort), reject(e)),
        });
        session.send(message, payload).then(
          () => options.onSent?.(id),
          (error: unknown) => {
            pending.delete(id);
            reject(error instanceof FlotillaError ? error : new FlotillaError('channel-closed', String(error)));
          },
        );
      });
    },
    send: (message, body) => session.send(message, body),
    path: () => session.path(),
    onPathChange: (handler) => session.onPathChange(handler),
    close: () => session.close(),
    onClose: (handler) => session.onClose(handler),
  };
}

/** Throws the result's error if it failed; returns it otherwise. */
export function expectOk(result: Result): Result {
  if (result.status !== 'ok') throw result.error ? fromWireError(result.error) : new FlotillaError('internal', `status ${result.status}`);
  return result;
}

/** What a journaled task's result carries when it was answered from the journal or after a reattach. */
export interface Replay {
  /** Answered from the journal (the task id had run before): its recorded output follows. */
  replayed?: boolean;
  stdout?: string;
  stderr?: string;
  truncated?: boolean;
  /** A controller that lost its connection followed the task again to its end. */
  reattached?: boolean;
  /** Output the agent no longer held for the reattaching controller. */
  lostBytes?: number;
}

/** A capability's result: `data` validated by its spec (present on ok results that carry data). */
export type TypedResult<S extends AnySpec> = Omit<Result, 'data'> & { data?: DataOf<S>; replay?: Replay };

function parseReplay(data: Obj): Replay | undefined {
  if (data['replayed'] === undefined && data['reattached'] === undefined) return undefined;
  return {
    ...optional('replayed', optBool(data, 'replayed')),
    ...optional('stdout', optStr(data, 'stdout', MAX_HEADER_BYTES)),
    ...optional('stderr', optStr(data, 'stderr', MAX_HEADER_BYTES)),
    ...optional('truncated', optBool(data, 'truncated')),
    ...optional('reattached', optBool(data, 'reattached')),
    ...optional('lostBytes', optInt(data, 'lostBytes')),
  };
}

/**
 * Sends a capability's request and validates its answer like every request is validated on the
 * agent: an ok result's `data` must be what the spec says, or this rejects with bad-message.
 */
export async function call<S extends AnySpec>(
  connection: AgentConnection,
  spec: S,
  body: RequestOf<S>,
  options?: RequestOptions,
  payload?: Uint8Array,
): Promise<TypedResult<S>> {
  const { data, ...result } = await connection.request({ type: spec.request.type, ...body } as RequestBody, options, payload);
  if (data === undefined) return result;
  let typed: DataOf<S> | undefined;
  let replay: Replay | undefined;
  try {
    replay = parseReplay(data);
    if (result.status === 'ok') typed = spec.result(data) as DataOf<S>;
  } catch (error) {
    const detail = error instanceof FlotillaError ? error.detail : String(error);
    throw new FlotillaError('bad-message', `the host's answer to ${spec.name} is malformed: ${detail ?? 'unreadable'}`);
  }
  return { ...result, ...(typed === undefined ? {} : { data: typed }), ...(replay ? { replay } : {}) };
}

/** Sends a capability's request and returns its data; throws the error of a result that is not ok. */
export async function callOk<S extends AnySpec>(connection: AgentConnection, spec: S, body: RequestOf<S>, options?: RequestOptions): Promise<DataOf<S>> {
  const result = await call(connection, spec, body, options);
  if (result.status !== 'ok') throw result.error ? fromWireError(result.error) : new FlotillaError('internal', `status ${result.status}`);
  if (result.data === undefined) throw new FlotillaError('bad-message', `the host's answer to ${spec.name} carries no data`);
  return result.data;
}
