// What the agent writes down around a task: the audit record and the journal entry before it
// runs, the journal's result after. A write that fails (a full disk under the state directory,
// say) is logged, and before the task it answers the request with that sentence instead of
// leaving it unanswered; the task is then not run.

import { FlotillaError } from '../../shared/errors.ts';
import type { DeviceCertBody } from '../../shared/certs.ts';
import type { Message, RequestType } from '../../shared/protocol.ts';
import type { AuditLog } from './audit.ts';
import type { Journal, JournalEntry } from './journal.ts';
import type { Logger } from './log.ts';
import type { ResultFields } from './handlers/context.ts';

interface Records {
  audit: AuditLog;
  journal: Journal;
  log: Logger;
}

type TaskRequest = Extract<Message, { type: Exclude<RequestType, 'cancel'> }>;

/** Audits an accepted request and, for a task, journals its start; throws a FlotillaError saying what could not be written. */
export async function recordStart(records: Records, device: DeviceCertBody, request: TaskRequest, op: JournalEntry['op'] | undefined, startedAt: number): Promise<void> {
  const task = 'task' in request ? request.task : undefined;
  const detail = 'cmd' in request ? request.cmd.slice(0, 500) : 'path' in request ? request.path : undefined;
  try {
    await records.audit.record({ device: device.id, deviceName: device.name, role: device.role, request: request.type, outcome: 'accepted', ...(task ? { task } : {}), ...(detail === undefined ? {} : { detail }) });
    if (task && op) {
      const summary = 'cmd' in request ? request.cmd : 'path' in request ? request.path : '';
      await records.journal.begin({ task, op, status: 'running', device: device.id, summary: summary.slice(0, 1000), startedAt, stdout: '', stderr: '', truncated: false });
    }
  } catch (error) {
    const failure = error instanceof FlotillaError ? error : new FlotillaError('file-error', String(error));
    records.log('error', 'task-not-recorded', { type: request.type, ...(task ? { task } : {}), error: failure.detail });
    throw failure;
  }
}

/** Journals a task's result; a failure is logged (the result still goes to the controller). */
export async function recordEnd(records: Records, task: string, fields: ResultFields): Promise<void> {
  const { data, exitCode, error } = fields;
  try {
    await records.journal.update(task, { status: fields.status, endedAt: Date.now(), ...(data ? { data } : {}), ...(exitCode === undefined ? {} : { exitCode }), ...(error ? { error } : {}) });
  } catch (failure) {
    records.log('error', 'journal-write-failed', { task, error: failure instanceof FlotillaError ? failure.detail : String(failure) });
  }
}
