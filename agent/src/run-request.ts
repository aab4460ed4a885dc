// One accepted request of a capability, whichever path brought it: a live session
// (dispatch.ts) or a task a device left in the store (mailbox.ts). Audits it and journals its
// start (task-records.ts), runs the capability's handler, and turns a failure into result
// fields. The journal refuses a task id it already holds, so a live run and a queued run of the
// same id never both run.

import { FlotillaError, toWireError } from '../../shared/wire/errors.ts';
import type { Message, RequestType, ResultStatus } from '../../shared/wire/protocol.ts';
import type { Spec } from '../../capabilities/index.ts';
import { handlerOf } from './handlers.ts';
import { recordStart } from './task-records.ts';
import type { ResultFields, TaskContext } from './task-context.ts';

/** A request of a capability (anything but cancel). */
export type CapabilityRequest = Extract<Message, { type: Exclude<RequestType, 'cancel'> }>;

/** The task id of a journaled capability's request. */
export function taskOf(spec: Spec, request: CapabilityRequest): string | undefined {
  return spec.traits?.journaled || spec.traits?.reattach ? (request as { task?: string }).task : undefined;
}

function statusFor(error: FlotillaError): ResultStatus {
  if (error.code === 'cancelled') return 'cancelled';
  if (error.code === 'timeout') return 'timeout';
  return 'failed';
}

/**
 * Records and runs `request` with `ctx` (its device, cancel signal and output sink); resolves
 * with the result fields, never rejects. `via` is recorded in the audit log (`store`).
 */
export async function runRequest(ctx: TaskContext, spec: Spec, request: CapabilityRequest, startedAt: number, via?: 'store'): Promise<ResultFields> {
  const task = taskOf(spec, request);
  try {
    // Audit and journal first (task-records.ts): a write that fails answers the request instead.
    const detail = spec.traits?.audit?.(request as never);
    const summary = spec.traits?.journaled?.summary(request as never) ?? '';
    await recordStart(ctx, ctx.device, { type: request.type, task, op: spec.name, detail, summary, ...(via ? { via } : {}) }, startedAt);
    const handler = await handlerOf(spec);
    const fields = (await handler(request as never, ctx)) as ResultFields;
    ctx.log('debug', 'handled', { type: request.type, id: request.id, status: fields.status, ...(via ? { via } : {}) });
    return fields;
  } catch (error) {
    const failure = error instanceof FlotillaError ? error : new FlotillaError('internal', (error as Error).message);
    if (failure.code === 'internal') ctx.log('error', 'handler-failed', { type: request.type, error: failure.detail });
    return { status: statusFor(failure), error: toWireError(failure), startedAt, durationMs: Date.now() - startedAt };
  }
}
