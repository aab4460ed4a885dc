// One controller-side connection to an agent: multiplexes requests by id over the secure
// session, routes streamed events (output, progress, file chunks) to their request.

import { FlotillaError, fromWireError } from './errors.ts';
import { randomBytes } from './crypto.ts';
import { toBase32 } from './encoding.ts';
import type { Message, MessageOf } from './protocol.ts';
import type { SecureSession } from './session.ts';
import type { PathInfo } from './transport.ts';

/** A result message. */
export type Result = MessageOf<'result'>;
/** Streamed events a request may receive before its result. */
export type RequestEvent = MessageOf<'output'> | MessageOf<'progress'> | MessageOf<'fetch.chunk'>;

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
    if (message.type === 'output' || message.type === 'progress' || message.type === 'fetch.chunk') {
      pending.get(message.id)?.options.onEvent?.(message, body);
    }
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
