// One running task: a command fanned out to the hosts a selector resolved to, each host's
// output streamed into reactive state as it arrives, then kept in history.

import { execOnHost, newTaskId, type HostResult } from '../../../../shared/operations.ts';
import type { WireError } from '../../../../shared/errors.ts';
import { ERROR_MESSAGES } from '../../../../shared/errors.ts';
import { appendCapped } from '../db/tasks.ts';
import type { TaskHostRecord, TaskRecord } from '../db/schema.ts';
import type { FleetState } from './fleet.svelte.ts';

/** A host the task goes to. */
export interface Target {
  id: string;
  label: string;
  online: boolean;
}

function errorText(error: WireError | undefined): string | undefined {
  if (!error) return undefined;
  return error.detail ? `${ERROR_MESSAGES[error.code]} (${error.detail})` : ERROR_MESSAGES[error.code];
}

/** One host's part, reactive while it runs. */
export class HostRun {
  readonly hostId: string;
  readonly label: string;
  readonly startedAt = Date.now();
  status = $state<TaskHostRecord['status']>('running');
  exitCode = $state<number | undefined>(undefined);
  stdout = $state('');
  stderr = $state('');
  truncated = $state(false);
  error = $state<string | undefined>(undefined);
  durationMs = $state<number | undefined>(undefined);
  #decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };

  constructor(target: Target) {
    this.hostId = target.id;
    this.label = target.label;
  }

  append(stream: 'stdout' | 'stderr', bytes: Uint8Array): void {
    const next = appendCapped(this[stream], this.#decoders[stream].decode(bytes, { stream: true }));
    this[stream] = next.text;
    if (next.cut) this.truncated = true;
  }

  settle(result: HostResult): void {
    this.status = result.status;
    this.exitCode = result.exitCode;
    this.durationMs = result.durationMs;
    this.error = errorText(result.error);
  }

  toRecord(): TaskHostRecord {
    const { hostId, label, status, exitCode, stdout, stderr, truncated, error, startedAt, durationMs } = this;
    return { hostId, label, status, exitCode, stdout, stderr, truncated, error, startedAt, durationMs };
  }
}

/** A task in flight; `done` resolves once every host has settled and the record is saved. */
export class TaskRun {
  readonly id = newTaskId();
  readonly startedAt = Date.now();
  readonly hosts: HostRun[];
  endedAt = $state<number | undefined>(undefined);
  cancelled = $state(false);
  readonly done: Promise<TaskRecord>;
  readonly fleet: FleetState;
  readonly selector: string;
  readonly command: string;
  #abort = new AbortController();

  constructor(o: { fleet: FleetState; selector: string; command: string; targets: readonly Target[]; onSave: (record: TaskRecord) => Promise<void>; timeoutMs?: number }) {
    const { targets, onSave, timeoutMs } = o;
    this.fleet = o.fleet;
    this.selector = o.selector;
    this.command = o.command;
    this.hosts = targets.map((t) => new HostRun(t));
    this.done = this.#run(targets, onSave, timeoutMs);
  }

  get running(): boolean {
    return this.endedAt === undefined;
  }

  cancel(): void {
    this.cancelled = true;
    this.#abort.abort();
  }

  toRecord(): TaskRecord {
    return {
      id: this.id,
      selector: this.selector,
      kind: 'exec',
      command: this.command,
      device: this.fleet.device.cert.body.name,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      hosts: this.hosts.map((h) => h.toRecord()),
    };
  }

  async #run(targets: readonly Target[], onSave: (record: TaskRecord) => Promise<void>, timeoutMs?: number): Promise<TaskRecord> {
    const byId = new Map(this.hosts.map((h) => [h.hostId, h]));
    await onSave(this.toRecord());
    for (const t of targets.filter((t) => !t.online)) {
      byId.get(t.id)?.settle({ hostId: t.id, status: 'unreachable', durationMs: 0, error: { code: 'unreachable', detail: 'offline according to the signaling server' } });
    }
    const online = targets.filter((t) => t.online).map((t) => t.id);
    const spec = { task: this.id, cmd: this.command, ...(timeoutMs ? { timeoutMs } : {}) };
    await this.fleet.controller.fanOut(
      online,
      async (id) => {
        const host = byId.get(id)!;
        if (this.#abort.signal.aborted) return host.settle({ hostId: id, status: 'cancelled', durationMs: 0 });
        host.settle(await execOnHost(this.fleet.controller, id, spec, (stream, bytes) => host.append(stream, bytes), this.#abort.signal));
        await onSave(this.toRecord());
      },
      (s) => {
        if (!s.ok) byId.get(s.hostId)?.settle({ hostId: s.hostId, status: 'failed', durationMs: 0, error: { code: s.error.code, detail: s.error.message } });
      },
    );
    this.endedAt = Date.now();
    const record = this.toRecord();
    await onSave(record);
    return record;
  }
}
