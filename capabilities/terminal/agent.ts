// terminal on the agent: opens a session (or reattaches to one), streams its output within the
// client's window, takes input, resize, ack, detach and close, and answers when the program ends
// or the client leaves. The session itself lives on in sessions.ts (see spec.ts for the protocol).

import { FlotillaError } from '../../shared/wire/errors.ts';
import { checkCommand } from '../../agent/src/policy.ts';
import type { Handler, TaskContext, TypedResultFields } from '../../agent/src/task-context.ts';
import type { Message } from '../../shared/wire/protocol.ts';
import { fromBase64, utf8 } from '../../shared/wire/encoding.ts';
import { DEFAULT_TERMINAL_WINDOW, MAX_INPUT, type DetachReason, type spec, type TerminalOpen } from './spec.ts';
import { newSessionId, runAsAccount, sessions, spawnPty, TerminalSession } from './sessions.ts';
import { startRecording } from './recorder.ts';
import type { SessionObserver } from './session.ts';

type Fields = TypedResultFields<typeof spec>;

const KILL_GRACE_MS = 3000;

/** Starts a new session for this request. */
async function open(request: TerminalOpen, ctx: TaskContext): Promise<{ session: TerminalSession; recording?: string }> {
  const config = ctx.config.terminal;
  if (request.command !== undefined) checkCommand(request.command, ctx.config.refuseCommands);
  const live = [...sessions.values()].length;
  if (live >= config.maxSessions) throw new FlotillaError('rate-limited', `${live} terminal sessions are open on this host (at most ${config.maxSessions})`);
  const account = runAsAccount(request.user, ctx.config.runAs);
  const term = request.term ?? 'xterm-256color';
  const id = newSessionId();
  const startedAt = Date.now();
  const who = {
    device: ctx.device.id,
    deviceName: ctx.device.name,
    user: account.name,
    ...(request.command === undefined ? {} : { command: request.command }),
  };
  let recording: { id: string; observer: SessionObserver } | undefined;
  if (config.record) {
    recording = await startRecording(
      ctx.config.stateDir,
      { maxBytes: config.recordingMaxBytes, maxTotalBytes: config.recordingsMaxBytes, maxCount: config.recordingsMaxCount },
      { session: id, startedAt, ...who },
      { cols: request.cols, rows: request.rows, term, shell: account.shell },
      (error) => ctx.log('warn', 'recording-failed', { session: id, error: (error as Error).message }),
    ).catch((error: unknown) => {
      throw new FlotillaError(
        'file-error',
        `the agent cannot record the session under ${ctx.config.stateDir}, so it did not open it: ${(error as Error).message}`,
      );
    });
  }
  const pty = await spawnPty({ account, command: request.command, term, cols: request.cols, rows: request.rows });
  const audit = ctx.audit;
  const observer: SessionObserver = {
    ...recording?.observer,
    output: (bytes) => recording?.observer.output?.(bytes),
    resize: (cols, rows) => recording?.observer.resize?.(cols, rows),
    get busy() {
      return recording?.observer.busy === true;
    },
    onIdle: (listener) => recording?.observer.onIdle?.(listener),
    ended: (exit) => {
      recording?.observer.ended?.(exit);
      audit.write({
        device: who.device,
        deviceName: who.deviceName,
        request: 'terminal.open',
        outcome: 'accepted',
        code: 'session-ended',
        detail: `session ${id} user ${account.name} pid ${pty.pid} exit ${exit.signal ?? exit.exitCode} after ${Math.round((Date.now() - startedAt) / 1000)}s, ${exit.offset} bytes of output`,
      });
    },
  };
  const session = new TerminalSession(
    { id, startedAt, ...who },
    pty,
    { cols: request.cols, rows: request.rows },
    { ringBytes: config.ringBytes, detachMs: config.detachMs, idleMs: config.idleMs, killGraceMs: KILL_GRACE_MS },
    observer,
    (s) => sessions.delete(s.info.id),
  );
  sessions.set(id, session);
  audit.write({
    device: who.device,
    deviceName: who.deviceName,
    role: ctx.device.role,
    request: 'terminal.open',
    outcome: 'accepted',
    code: 'session-started',
    detail: `session ${id} user ${account.name} pid ${pty.pid}${request.command === undefined ? ' login shell' : ` command ${request.command.slice(0, 400)}`}${recording ? ` recording ${recording.id}` : ''}`,
  });
  return { session, ...(recording ? { recording: recording.id } : {}) };
}

/** The running session a reattach names, if this device may take it. */
function existing(request: TerminalOpen & { session: string }, ctx: TaskContext): TerminalSession {
  const session = sessions.get(request.session);
  if (!session) throw new FlotillaError('not-found', `no terminal session ${request.session} on this host (it ended, or its detach time ran out)`);
  if (session.info.device !== ctx.device.id && ctx.device.role !== 'admin')
    throw new FlotillaError('forbidden', `terminal session ${request.session} belongs to another device`);
  return session;
}

/** The bytes of a terminal.input. */
function inputBytes(message: { text?: string; base64?: string }, body: Uint8Array): Uint8Array {
  if (body.length) return body.length > MAX_INPUT ? body.subarray(0, MAX_INPUT) : body;
  if (message.text !== undefined) return utf8(message.text);
  if (message.base64 !== undefined) return fromBase64(message.base64) ?? new Uint8Array(0);
  return new Uint8Array(0);
}

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const reattach = request.session !== undefined;
  const { session, recording } = reattach
    ? { session: existing(request as TerminalOpen & { session: string }, ctx), recording: undefined }
    : await open(request, ctx);
  const id = request.id;
  let settle: (fields: Fields) => void = () => undefined;
  const ended = new Promise<Fields>((resolve) => (settle = resolve));
  const detachedFields = (reason: DetachReason): Fields => ({
    status: 'ok',
    data: { session: session.info.id, detached: true, reason, offset: session.ring.end },
  });
  const attached = session.attach(
    {
      output: (offset, bytes) => ctx.send({ type: 'terminal.output', id, offset }, bytes),
      exit: (exit) => {
        void ctx.send({ type: 'terminal.exit', id, ...exit }).then(() =>
          settle({
            status: 'ok',
            exitCode: exit.exitCode,
            data: { session: session.info.id, exitCode: exit.exitCode, ...(exit.signal ? { signal: exit.signal } : {}), offset: exit.offset },
          }),
        );
      },
      detached: (reason) => settle(detachedFields(reason)),
    },
    request.from ?? 0,
    request.window ?? DEFAULT_TERMINAL_WINDOW,
  );
  if (reattach) {
    session.resize(request.cols, request.rows);
    ctx.audit.write({
      device: ctx.device.id,
      deviceName: ctx.device.name,
      role: ctx.device.role,
      request: 'terminal.open',
      outcome: 'accepted',
      code: 'reattached',
      detail: `session ${session.info.id} from ${request.from ?? 0}${attached.lost ? `, ${attached.lost} bytes lost` : ''}`,
    });
  }
  await ctx.send({
    type: 'terminal.opened',
    id,
    session: session.info.id,
    reattached: reattach,
    offset: attached.offset,
    lost: attached.lost,
    cols: session.cols,
    rows: session.rows,
    user: session.info.user,
    pid: session.pid,
    detachMs: ctx.config.terminal.detachMs,
    window: attached.window,
    ...(recording ? { recording } : {}),
    pings: true,
  });
  ctx.onFollowUp((message: Message, body: Uint8Array) => {
    if (!attached.current) return;
    switch (message.type) {
      case 'terminal.input':
        session.input(inputBytes(message, body));
        break;
      case 'terminal.resize':
        session.resize(message.cols, message.rows);
        break;
      case 'terminal.ack':
        attached.ack(message.offset);
        break;
      case 'terminal.ping':
        void ctx.send({ type: 'terminal.pong', id, offset: session.ring.end }).catch(() => undefined);
        break;
      case 'terminal.detach':
        attached.detach();
        settle(detachedFields('detached'));
        break;
      case 'terminal.close':
        session.close(message.signal ?? 'HUP');
        break;
      default:
        break;
    }
  });
  const onAbort = () => {
    attached.detach();
    settle(detachedFields('cancelled'));
  };
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });
  attached.start();
  try {
    return await ended;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
};
