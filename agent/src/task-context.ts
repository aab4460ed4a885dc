// What every capability's agent handler receives: the request, the session to answer on, who asked,
// and the agent's configuration, state, journal and log.

import type { SecureSession } from '../../shared/session/session.ts';
import type { DeviceCertBody } from '../../shared/identity/certs.ts';
import type { Message, MessageOf, MessageType } from '../../shared/wire/protocol.ts';
import type { AnySpec, DataOf } from '../../capabilities/spec.ts';
import type { AgentConfig } from './config.ts';
import type { AgentState } from './state.ts';
import type { Journal } from './journal.ts';
import type { Logger } from '../../node/log.ts';
import type { AuditLog } from './audit.ts';

/** The fields of a result message, without type and id. */
export type ResultFields = Omit<MessageOf<'result'>, 'type' | 'id'>;

/** Context handed to a handler for one request. */
export interface TaskContext {
  readonly session: SecureSession;
  readonly device: DeviceCertBody;
  readonly config: AgentConfig;
  readonly state: AgentState;
  readonly journal: Journal;
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Aborted when the device cancels the request. */
  readonly signal: AbortSignal;
  /** Sends a message on the session if it is still open; never throws. */
  send(message: Message, body?: Uint8Array): Promise<void>;
  /**
   * Streams a command's output to whoever follows the task (the requester, and controllers
   * that reattached after losing their connection); resolves when they have taken it.
   */
  output(stream: 'stdout' | 'stderr', bytes: Uint8Array): Promise<void>;
  /** Registers a receiver for follow-up messages with this request's id (push chunks). */
  onFollowUp(handler: (message: Message, body: Uint8Array) => void): void;
}

/** The result fields of a capability, its `data` typed by its spec. */
export type TypedResultFields<S extends AnySpec> = Omit<ResultFields, 'data'> & { data?: DataOf<S> };

/** A capability's agent handler (capabilities/<name>/agent.ts exports it as `handler`): answers one request. */
export type Handler<S extends AnySpec> = (request: MessageOf<S['request']['type'] & MessageType>, ctx: TaskContext) => Promise<TypedResultFields<S>>;
