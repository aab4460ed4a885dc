// What the agent writes down around a task: the audit record and the journal entry before it
// runs, the journal's result after. A write that fails (a full disk under the state directory,
// say) is logged, and before the task it answers the request with that sentence instead of
// leaving it unanswered; the task is then not run.

import { FlotillaError } from '../../shared/wire/errors.ts';
import type { DeviceCertBody } from '../../shared/identity/certs.ts';
import type { AuditLog } from './audit.ts';
import type { Journal, JournalEntry } from './journal.ts';
import type { Logger } from '../../node/log.ts';
import type { ResultFields } from './task-context.ts';

interface Records {
  audit: AuditLog;
  journal: Journal;
  log: Logger;
}

/** What is written down about one request before it runs (from its capability's spec and traits). */
export interface TaskStart {
  /** The request's wire type. */
  type: string;
  /** The task id of a journaled capability. */
  task: string | undefined;
  /** The capability's name, the journal entry's `op`. */
  op: JournalEntry['op'];
  /** What the audit log records beside the type (a command line, a path). */
  detail: string | undefined;
  /** What the journal shows of the task. */
  summary: string;
  /** The request came from the store (a queued task), not a live session. */
  via?: 'store';
}

/** Audits an accepted request and, for a task, journals its start; throws a FlotillaError saying what could not be written. */
export async function recordStart(records: Records, device: DeviceCertBody, start: TaskStart, startedAt: number): Promise<void> {
  const { task, detail } = start;
  try {
    await records.audit.record({
      device: device.id,
      deviceName: device.name,
      role: device.role,
      request: start.type,
      outcome: 'accepted',
      ...(task ? { task } : {}),
      ...(detail === undefined ? {} : { detail }),
      ...(start.via ? { via: start.via } : {}),
    });
    if (task) {
      // false: the same id arrived by another path (live and queued) meanwhile; it runs there only.
      const fresh = await records.journal.begin({
        task,
        op: start.op,
        status: 'running',
        device: device.id,
        summary: start.summary.slice(0, 1000),
        startedAt,
        stdout: '',
        stderr: '',
        truncated: false,
      });
      if (!fresh) throw new FlotillaError('conflict', `task ${task} already ran or is running on this host`);
    }
  } catch (error) {
    const failure = error instanceof FlotillaError ? error : new FlotillaError('file-error', String(error));
    records.log('error', 'task-not-recorded', { type: start.type, ...(task ? { task } : {}), error: failure.detail });
    throw failure;
  }
}

/** Journals a task's result; a failure is logged (the result still goes to the controller). */
export async function recordEnd(records: Records, task: string, fields: ResultFields): Promise<void> {
  const { data, exitCode, error } = fields;
  try {
    await records.journal.update(task, {
      status: fields.status,
      endedAt: Date.now(),
      ...(data ? { data } : {}),
      ...(exitCode === undefined ? {} : { exitCode }),
      ...(error ? { error } : {}),
    });
  } catch (failure) {
    records.log('error', 'journal-write-failed', { task, error: failure instanceof FlotillaError ? failure.detail : String(failure) });
  }
}
