// One running task: a command, script, push or fetch fanned out to the hosts a selector resolved
// to, each host's output and progress streamed into reactive state as it arrives, then kept in
// history.

import { newTaskId, type HostResult } from '../../../../shared/controller/operations.ts';
import type { Controller } from '../../../../shared/controller/controller.ts';
import type { WireError } from '../../../../shared/wire/errors.ts';
import { ERROR_MESSAGES } from '../../../../shared/wire/errors.ts';
import { appendCapped } from '../db/tasks.ts';
import type { TaskHostRecord, TaskKind, TaskRecord } from '../db/schema.ts';
import type { FleetState } from './fleet.svelte.ts';
import { ProgressGate } from './progress-gate.ts';
import { coalescingSaver } from './coalescing-saver.ts';
import { runPipeline } from '../../../../shared/controller/task-pipeline.ts';
import type { RollingOptions } from '../../../../shared/controller/rolling.ts';

/** A host the task goes to. */
export interface Target {
  id: string;
  label: string;
  online: boolean;
}

/** What one host's part of a task gets to work with. */
export interface WorkContext {
  controller: Controller;
  /** The task id; parts of one task on one host (several pushed files) add a suffix. */
  task: string;
  signal: AbortSignal;
}

/** What a task does on each host (see work.ts). */
export interface TaskSpec {
  kind: TaskKind;
  /** What history shows: the command, or a line describing the script, push or fetch. */
  command: string;
  /** Files of a push of several (each its own task on the host, see WorkContext.task). */
  parts?: number;
  /** The path a fetch reads. */
  path?: string;
  /** A rolling run: canary hosts, then batches, stopping once too many failed (shared/controller/rolling.ts). */
  rolling?: RollingOptions;
  /** The request a host that is offline now gets through the fleet store (commands only). */
  queued?: Record<string, unknown>;
  work(host: HostRun, ctx: WorkContext): Promise<HostResult>;
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
  /** Bytes moved so far by a push or fetch (set through moved()). */
  progress = $state.raw<{ bytes: number; total: number } | undefined>(undefined);
  /** A fetched file, offered as a download (a Blob URL, this page only). */
  download = $state.raw<{ url: string; name: string; size: number } | undefined>(undefined);
  #decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  #progressGate = new ProgressGate((p) => (this.progress = p));

  constructor(target: Target) {
    this.hostId = target.id;
    this.label = target.label;
  }

  append(stream: 'stdout' | 'stderr', bytes: Uint8Array): void {
    this.note(stream, this.#decoders[stream].decode(bytes, { stream: true }));
  }

  /** Adds text to a stream (what a push or fetch reports), within the cap. */
  note(stream: 'stdout' | 'stderr', text: string): void {
    const next = appendCapped(this[stream], text);
    this[stream] = next.text;
    if (next.cut) this.truncated = true;
  }

  /** Reports bytes moved by a push or fetch; the bar is redrawn at most every 100 ms (ProgressGate). */
  moved(bytes: number, total: number): void {
    this.#progressGate.moved(bytes, total);
  }

  settle(result: HostResult): void {
    this.#progressGate.flush();
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
  /** Why a rolling run stopped before starting every host. */
  stopped = $state<string | undefined>(undefined);
  readonly done: Promise<TaskRecord>;
  readonly fleet: FleetState;
  readonly selector: string;
  readonly spec: TaskSpec;
  /** Offline hosts were left the task in the fleet store until then (ms). */
  readonly deadline: number | undefined;
  #abort = new AbortController();

  constructor(o: {
    fleet: FleetState;
    selector: string;
    spec: TaskSpec;
    targets: readonly Target[];
    onSave: (record: TaskRecord) => Promise<void>;
    /** Queue for offline hosts until `deadline`; `window`: any host matching the selector before then, also ones that enroll later. */
    queue?: { deadline: number; window: boolean };
  }) {
    this.fleet = o.fleet;
    this.selector = o.selector;
    this.spec = o.spec;
    this.hosts = o.targets.map((t) => new HostRun(t));
    this.deadline = o.queue?.deadline;
    const queued = o.queue && o.spec.queued ? o.targets.filter((t) => !t.online) : [];
    for (const host of this.hosts) if (queued.some((t) => t.id === host.hostId)) host.status = 'queued';
    this.done = this.#run(
      o.targets.filter((t) => !queued.includes(t)),
      o.onSave,
      o.queue && o.spec.queued ? { ...o.queue, hosts: queued } : undefined,
    );
  }

  get command(): string {
    return this.spec.command;
  }

  get running(): boolean {
    return this.endedAt === undefined;
  }

  cancel(): void {
    this.cancelled = true;
    this.#abort.abort();
  }

  /** Frees the fetched files' Blob URLs (when the task leaves the Run page). */
  release(): void {
    for (const host of this.hosts) if (host.download) URL.revokeObjectURL(host.download.url);
  }

  toRecord(): TaskRecord {
    return {
      id: this.id,
      selector: this.selector,
      kind: this.spec.kind,
      command: this.spec.command,
      device: this.fleet.device.cert.body.name,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      hosts: this.hosts.map((h) => h.toRecord()),
      ...(this.spec.parts && this.spec.parts > 1 ? { parts: this.spec.parts } : {}),
      ...(this.spec.path ? { path: this.spec.path } : {}),
      ...(this.deadline ? { deadline: this.deadline } : {}),
    };
  }

  /** Leaves the task in the fleet store for offline hosts; a host it could not be left for is marked unreachable, with why. */
  async #queue(queue: { deadline: number; window: boolean; hosts: readonly Target[] }): Promise<void> {
    const keyOf = (id: string) => this.fleet.hosts.find((h) => h.id === id)?.encPub ?? '';
    const task = {
      task: this.id,
      // The agent parses it with the capability's spec and checks it names this task.
      request: { ...this.spec.queued!, task: this.id },
      summary: this.spec.command.slice(0, 1024),
      selector: this.selector.slice(0, 4096),
      deadline: queue.deadline,
      deviceName: this.fleet.device.cert.body.name.slice(0, 128),
    };
    try {
      if (queue.window) await this.fleet.store.queueTask(task, { window: true });
      else if (queue.hosts.length > 0) await this.fleet.store.queueTask(task, { hosts: queue.hosts.map((t) => ({ id: t.id, encPub: keyOf(t.id) })) });
    } catch (error) {
      const why = `could not be queued: ${error instanceof Error ? error.message : String(error)}`;
      for (const host of this.hosts)
        if (host.status === 'queued') {
          host.status = 'unreachable';
          host.error = why;
        }
    }
  }

  async #run(
    targets: readonly Target[],
    onSave: (record: TaskRecord) => Promise<void>,
    queue?: { deadline: number; window: boolean; hosts: readonly Target[] },
  ): Promise<TaskRecord> {
    const byId = new Map(this.hosts.map((h) => [h.hostId, h]));
    await onSave(this.toRecord());
    if (queue) await this.#queue(queue);
    const ctx = { controller: this.fleet.controller, task: this.id, signal: this.#abort.signal };
    // History follows the results, without a write per host on the way to the end.
    const saver = coalescingSaver(onSave, (error) => console.warn('[flotilla] task-save-failed', { task: this.id, error: String(error) }));
    // The one task pipeline the CLI runs too: offline hosts answered without a dial, the same
    // status for each outcome, rolling runs.
    const outcome = await runPipeline(
      this.fleet.controller,
      targets,
      async (id) => {
        const host = byId.get(id)!;
        if (this.#abort.signal.aborted) return { hostId: id, status: 'cancelled', durationMs: 0 };
        return this.spec.work(host, ctx);
      },
      {
        ...(this.spec.rolling ? { rolling: this.spec.rolling } : {}),
        signal: this.#abort.signal,
        onResult: (result) => {
          byId.get(result.hostId)?.settle(result);
          saver.soon(() => this.toRecord());
        },
      },
    );
    this.stopped = outcome.stopped;
    this.endedAt = Date.now();
    await saver.flush();
    const record = this.toRecord();
    await onSave(record);
    return record;
  }
}
