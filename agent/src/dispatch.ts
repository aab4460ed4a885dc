// Serves one authenticated session: checks the role for every request (the agent enforces
// roles itself), audits it, deduplicates by task id through the journal, and runs handlers.

import { FlotillaError, toWireError } from '../../shared/errors.ts';
import { roleAllows } from '../../shared/authorize.ts';
import { isRequest, type Message, type RequestType, type ResultStatus } from '../../shared/protocol.ts';
import type { SecureSession } from '../../shared/session.ts';
import type { DeviceCertBody } from '../../shared/certs.ts';
import { isTaskId, type JournalEntry } from './journal.ts';
import { createLiveTasks, type Offsets, type Stream } from './live-tasks.ts';
import { createOutputWindows } from './output-window.ts';
import { fitResult, replayEntry } from './replay.ts';
import { recordEnd, recordStart } from './task-records.ts';
import type { Handler, ResultFields, TaskContext } from './handlers/context.ts';
import { execHandler } from './handlers/exec.ts';
import { pushHandler } from './handlers/push.ts';
import { fetchHandler } from './handlers/fetch.ts';
import { factsHandler } from './handlers/facts.ts';
import { pingHandler } from './handlers/ping.ts';
import { journalHandler } from './handlers/journal.ts';
import { tagsHandler } from './handlers/tags.ts';
import { hostCertHandler } from './handlers/host-cert.ts';
import { auditHandler } from './handlers/audit.ts';

type Shared = Omit<TaskContext, 'session' | 'device' | 'signal' | 'send' | 'output' | 'onFollowUp'>;

/** Agent-wide bookkeeping shared by all sessions. */
export interface Dispatcher {
  serve(session: SecureSession, device: DeviceCertBody): void;
  /** Aborts every running task (graceful shutdown) and waits for them to settle. */
  stopAll(timeoutMs: number): Promise<void>;
  readonly running: number;
}

const HANDLERS: { [K in Exclude<RequestType, 'cancel'>]: Handler<K> } = {
  ping: pingHandler,
  facts: factsHandler,
  exec: execHandler,
  'push.begin': pushHandler,
  fetch: fetchHandler,
  journal: journalHandler,
  'tags.set': tagsHandler,
  'host.cert': hostCertHandler,
  audit: auditHandler,
};

const TASK_OPS = { exec: 'exec', 'push.begin': 'push', fetch: 'fetch' } as const;

function statusFor(error: FlotillaError): ResultStatus {
  if (error.code === 'cancelled') return 'cancelled';
  if (error.code === 'timeout') return 'timeout';
  return 'failed';
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
      shared.audit.write({ device: device.id, deviceName: device.name, role: device.role, request: request.type, outcome: 'refused', code: error.code, ...(error.detail ? { detail: error.detail } : {}) });
      return reply(request.id, { status: 'failed', error: toWireError(error) });
    };

    async function run(request: Extract<Message, { type: Exclude<RequestType, 'cancel'> }>, abort: AbortController): Promise<void> {
      const task = 'task' in request ? request.task : undefined;
      inSession.set(request.id, abort);
      const op = TASK_OPS[request.type as keyof typeof TASK_OPS] as JournalEntry['op'] | undefined;
      const startedAt = Date.now();
      // A command is followed live: its requester now, and controllers that reattach later.
      const following = request.type === 'exec' ? live.begin(request.task, abort) : undefined;
      const toRequester = windows.sender(request.id, request.type === 'exec' ? request.window : undefined, (stream, bytes, window) => send({ type: 'output', id: request.id, stream, ...(window ? { window } : {}) }, bytes));
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
        await recordStart(shared, device, request, op, startedAt); // audit and journal (task-records.ts)
        fields = await (HANDLERS[request.type] as Handler<typeof request.type>)(request as never, ctx);
        shared.log('debug', 'handled', { type: request.type, id: request.id, status: fields.status });
      } catch (error) {
        const failure = error instanceof FlotillaError ? error : new FlotillaError('internal', (error as Error).message);
        if (failure.code === 'internal') shared.log('error', 'handler-failed', { type: request.type, error: failure.detail });
        fields = { status: statusFor(failure), error: toWireError(failure), startedAt, durationMs: Date.now() - startedAt };
      } finally {
        followUps.delete(request.id);
        early.delete(request.id);
        inSession.delete(request.id);
        windows.end(request.id);
      }
      following?.finish(fields);
      if (task && op) await recordEnd(shared, task, fields);
      await reply(request.id, fields);
    }

    session.onMessage((message, body) => {
      shared.log('debug', 'message', { type: message.type, id: message.id, device: device.id.slice(0, 8) });
      if (message.type === 'output.ack') return windows.ack(message.id, message.bytes);
      if (message.type === 'push.chunk' || message.type === 'push.end') {
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
      if (!roleAllows(device.role, message.type)) {
        void refuse(message, new FlotillaError('forbidden', `a ${device.role} may not send ${message.type}`));
        return;
      }
      if (message.type === 'cancel') {
        const target = inSession.get(message.target);
        target?.abort();
        void reply(message.id, target ? { status: 'ok' } : { status: 'failed', error: { code: 'bad-message', detail: 'no such running request' } });
        return;
      }
      const task = 'task' in message ? message.task : undefined;
      if (task !== undefined) {
        if (!isTaskId(task)) {
          void refuse(message, new FlotillaError('bad-message', 'task ids are 1-64 letters, digits, dot, dash or underscore'));
          return;
        }
        if (message.type === 'exec' && message.attach && reattach(message, message.attach)) return;
        const known = shared.journal.get(task);
        if (known) {
          if (message.type === 'exec' && message.attach) {
            // It ended while the controller was away: the result, with only the output it missed.
            shared.audit.write({ device: device.id, request: message.type, task, outcome: 'accepted', code: 'reattached' });
            void replay(message.id, known, message.attach);
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
      entry.done = run(message, entry.abort)
        .catch((error: unknown) => shared.log('error', 'task-crashed', { error: (error as Error).message }))
        .finally(() => running.delete(key));
      running.set(key, entry);
    });

    session.onBadMessage((error, id) => {
      shared.log('warn', 'bad-message', { device: device.id.slice(0, 8), detail: error.detail });
      if (id) void reply(id, { status: 'failed', error: toWireError(error) });
    });

    /**
     * A controller that lost its connection while `message.task` ran follows it again from
     * `from`: true when the task is running here (else it is answered from the journal, or run).
     */
    function reattach(message: Extract<Message, { type: 'exec' }>, from: Offsets): boolean {
      const task = live.get(message.task);
      if (!task) return false;
      shared.audit.write({ device: device.id, deviceName: device.name, role: device.role, request: message.type, task: message.task, outcome: 'accepted', code: 'reattached' });
      const attachment = task.attach(from, windows.sender(message.id, message.window, (stream, bytes, window) => send({ type: 'output', id: message.id, stream, ...(window ? { window } : {}) }, bytes)));
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

