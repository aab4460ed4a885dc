// Serves one authenticated session, the same way for every capability: checks the role of each
// request (the agent enforces roles itself), audits it, deduplicates journaled tasks by task id,
// journals them, and runs the capability's handler. Follow-ups, live output and reattach are
// traits of a capability's spec; nothing here names one.

import { FlotillaError, toWireError } from '../../shared/wire/errors.ts';
import { roleAllows } from '../../shared/controller/authorize.ts';
import { isFollowUp, isRequest, type Message } from '../../shared/wire/protocol.ts';
import type { SecureSession } from '../../shared/session/session.ts';
import { denies, type DeviceCertBody } from '../../shared/identity/certs.ts';
import { capabilityOfRequest, type Spec } from '../../capabilities/index.ts';
import type { Offsets } from '../../capabilities/spec.ts';
import { isTaskId, type JournalEntry } from './journal.ts';
import { createLiveTasks, type Stream } from './live-tasks.ts';
import { createOutputWindows } from './output-window.ts';
import { fitResult, replayEntry } from './replay.ts';
import { recordEnd } from './task-records.ts';
import { runRequest, taskOf, type CapabilityRequest } from './run-request.ts';
import type { ResultFields, TaskContext } from './task-context.ts';

type Shared = Omit<TaskContext, 'session' | 'device' | 'signal' | 'send' | 'output' | 'onFollowUp'>;

/** Agent-wide bookkeeping shared by all sessions. */
export interface Dispatcher {
  serve(session: SecureSession, device: DeviceCertBody): void;
  /** Aborts every running task (graceful shutdown) and waits for them to settle. */
  stopAll(timeoutMs: number): Promise<void>;
  readonly running: number;
}

/** The output window a request asked for (flow control of its `output` events), if any. */
function windowOf(request: CapabilityRequest): number | undefined {
  return (request as { window?: number }).window;
}

/** Where a reattaching request's controller stands (a reattach capability's `attach`). */
function attachOf(spec: Spec, request: CapabilityRequest): Offsets | undefined {
  return spec.traits?.reattach ? (request as { attach?: Offsets }).attach : undefined;
}

/** Creates the dispatcher for an agent. */
export function createDispatcher(shared: Shared): Dispatcher {
  const running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  const live = createLiveTasks();

  function serve(session: SecureSession, device: DeviceCertBody): void {
    const followUps = new Map<string, (message: Message, body: Uint8Array) => void>();
    // Follow-ups (push chunks) that arrive before their handler is ready wait here, bounded.
    const early = new Map<string, { message: Message; body: Uint8Array }[]>();
    const MAX_EARLY = 64;
    const inSession = new Map<string, AbortController>();
    /** Listeners this session attached to live tasks, detached when it closes. */
    const attached = new Set<() => void>();
    const windows = createOutputWindows();
    const send = async (message: Message, body?: Uint8Array) => {
      if (session.closed) return;
      try {
        await session.send(message, body);
      } catch (error) {
        shared.log('warn', 'send-failed', { type: message.type, error: (error as Error).message });
      }
    };
    const reply = (id: string, fields: ResultFields) => send({ type: 'result', id, ...fitResult(fields) });
    /** A known task's recorded output as events, then its result (replay.ts). */
    const replay = (id: string, entry: JournalEntry, from?: Offsets) =>
      replayEntry(entry, (stream: Stream, bytes) => send({ type: 'output', id, stream }, bytes), from).then((fields) => reply(id, fields));
    const refuse = (request: Message & { id: string }, error: FlotillaError) => {
      shared.audit.write({
        device: device.id,
        deviceName: device.name,
        role: device.role,
        request: request.type,
        outcome: 'refused',
        code: error.code,
        ...(error.detail ? { detail: error.detail } : {}),
      });
      return reply(request.id, { status: 'failed', error: toWireError(error) });
    };

    async function run(spec: Spec, request: CapabilityRequest, abort: AbortController): Promise<void> {
      const task = taskOf(spec, request);
      inSession.set(request.id, abort);
      const startedAt = Date.now();
      // A reattachable task is followed live: its requester now, and controllers that reattach later.
      const following = task && spec.traits?.reattach ? live.begin(task, abort) : undefined;
      const toRequester = windows.sender(request.id, windowOf(request), (stream, bytes, window) =>
        send({ type: 'output', id: request.id, stream, ...(window ? { window } : {}) }, bytes),
      );
      following?.live.attach({ stdout: 0, stderr: 0 }, toRequester);
      const ctx: TaskContext = {
        ...shared,
        session,
        device,
        signal: abort.signal,
        send,
        output: following ? following.live.output : toRequester,
        onFollowUp: (handler) => {
          followUps.set(request.id, handler);
          for (const m of early.get(request.id) ?? []) handler(m.message, m.body);
          early.delete(request.id);
        },
      };
      let fields: ResultFields;
      try {
        fields = await runRequest(ctx, spec, request, startedAt);
      } finally {
        followUps.delete(request.id);
        early.delete(request.id);
        inSession.delete(request.id);
        windows.end(request.id);
      }
      following?.finish(fields);
      if (task) await recordEnd(shared, task, fields);
      await reply(request.id, fields);
    }

    session.onMessage((message, body) => {
      shared.log('debug', 'message', { type: message.type, id: message.id, device: device.id.slice(0, 8) });
      if (message.type === 'output.ack') return windows.ack(message.id, message.bytes);
      if (isFollowUp(message)) {
        const handler = followUps.get(message.id);
        if (handler) handler(message, body);
        else if (inSession.has(message.id)) {
          const queue = early.get(message.id) ?? [];
          if (queue.length < MAX_EARLY) queue.push({ message, body: new Uint8Array(body) });
          early.set(message.id, queue);
        }
        return;
      }
      if (!isRequest(message)) {
        shared.log('warn', 'unexpected-message', { type: message.type, device: device.id.slice(0, 8) });
        return;
      }
      if (!roleAllows(device.role, message.type, message)) {
        void refuse(message, new FlotillaError('forbidden', `a ${device.role} may not send ${message.type}`));
        return;
      }
      if (message.type === 'cancel') {
        const target = inSession.get(message.target);
        target?.abort();
        void reply(message.id, target ? { status: 'ok' } : { status: 'failed', error: { code: 'bad-message', detail: 'no such running request' } });
        return;
      }
      const spec = capabilityOfRequest(message.type);
      if (!spec) return; // isRequest: every request type but cancel is a capability's
      if (spec.permission && denies(device, spec.permission)) {
        void refuse(message, new FlotillaError('forbidden', `this device's certificate denies ${spec.permission} access`));
        return;
      }
      const task = taskOf(spec, message);
      if (task !== undefined) {
        if (!isTaskId(task)) {
          void refuse(message, new FlotillaError('bad-message', 'task ids are 1-64 letters, digits, dot, dash or underscore'));
          return;
        }
        const attach = attachOf(spec, message);
        if (attach && reattach(message, task, attach)) return;
        const known = shared.journal.get(task);
        if (known) {
          if (attach) {
            // It ended while the controller was away: the result, with only the output it missed.
            shared.audit.write({ device: device.id, request: message.type, task, outcome: 'accepted', code: 'reattached' });
            void replay(message.id, known, attach);
            return;
          }
          shared.audit.write({ device: device.id, request: message.type, task, outcome: 'refused', code: 'duplicate-task' });
          void replay(message.id, known);
          return;
        }
      }
      if (running.size >= shared.config.maxConcurrentTasks) {
        void refuse(message, new FlotillaError('rate-limited', `${running.size} tasks already running on this agent`));
        return;
      }
      const key = `${session.peer.id}:${message.id}`;
      const entry = { abort: new AbortController(), done: Promise.resolve() };
      entry.done = run(spec, message, entry.abort)
        .catch((error: unknown) => shared.log('error', 'task-crashed', { error: (error as Error).message }))
        .finally(() => running.delete(key));
      running.set(key, entry);
    });

    session.onBadMessage((error, id) => {
      shared.log('warn', 'bad-message', { device: device.id.slice(0, 8), detail: error.detail });
      if (id) void reply(id, { status: 'failed', error: toWireError(error) });
    });

    /**
     * A controller that lost its connection while task `name` ran follows it again from `from`:
     * true when the task is running here (else it is answered from the journal, or run).
     */
    function reattach(message: CapabilityRequest, name: string, from: Offsets): boolean {
      const task = live.get(name);
      if (!task) return false;
      shared.audit.write({
        device: device.id,
        deviceName: device.name,
        role: device.role,
        request: message.type,
        task: name,
        outcome: 'accepted',
        code: 'reattached',
      });
      const attachment = task.attach(
        from,
        windows.sender(message.id, windowOf(message), (stream, bytes, window) =>
          send({ type: 'output', id: message.id, stream, ...(window ? { window } : {}) }, bytes),
        ),
      );
      attached.add(attachment.detach);
      inSession.set(message.id, task.abort); // a cancel on the new request stops the command
      void task.finished.then((fields) => {
        attachment.detach();
        attached.delete(attachment.detach);
        inSession.delete(message.id);
        windows.end(message.id);
        const data = { ...(fields.data ?? {}), reattached: true, ...(attachment.lost ? { lostBytes: attachment.lost } : {}) };
        return reply(message.id, { ...fields, data });
      });
      return true;
    }

    session.onClose(() => {
      windows.closeAll();
      for (const detach of attached) detach();
      attached.clear();
      // Running commands go on (their results stay in the journal); transfers stop.
      for (const [id, abort] of inSession) if (followUps.has(id)) abort.abort();
    });
  }

  return {
    serve,
    get running() {
      return running.size;
    },
    async stopAll(timeoutMs) {
      const all = [...running.values()];
      for (const task of all) task.abort.abort();
      await Promise.race([Promise.allSettled(all.map((r) => r.done)), new Promise((r) => setTimeout(r, timeoutMs))]);
    },
  };
}
