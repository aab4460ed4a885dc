// exec: runs a shell command in its own process group, streams stdout/stderr as produced,
// kills the whole group on timeout or cancel, and journals the run under its task id.

import { spawn, execFileSync } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { checkCommand } from '../../agent/src/policy.ts';
import type { Handler, ResultFields } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

const KILL_GRACE_MS = 2000;
const MAX_PENDING_OUTPUT = 4 * 1024 * 1024;
const FLUSH_MS = 200;

function userIds(user: string): { uid: number; gid: number } {
  if (process.getuid?.() !== 0) throw new FlotillaError('policy-refused', 'run-as needs the agent to run as root');
  try {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new FlotillaError('policy-refused', `no such user ${JSON.stringify(user)}`);
  }
}

/** Kills a process group: TERM, then KILL after a grace period. */
function killGroup(pid: number): void {
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  };
  kill('SIGTERM');
  setTimeout(() => kill('SIGKILL'), KILL_GRACE_MS).unref();
}

export const handler: Handler<typeof spec> = async (request, ctx) => {
  checkCommand(request.cmd, ctx.config.refuseCommands);
  // A configured runAs is a ceiling, not a default: requests may not pick another user.
  if (ctx.config.runAs && request.user && request.user !== ctx.config.runAs) {
    throw new FlotillaError('policy-refused', `this agent runs commands only as ${ctx.config.runAs}`);
  }
  const user = request.user ?? ctx.config.runAs;
  const ids = user ? userIds(user) : undefined;
  const startedAt = Date.now();
  const child = spawn('/bin/sh', ['-c', request.cmd], {
    cwd: request.cwd ?? process.env['HOME'] ?? '/',
    env: { ...process.env, ...request.env },
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(ids ?? {}),
  });
  // Listen for the exit at once: a fast command can finish before the journal write below.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      // Grandchildren may keep stdout open; wait briefly for it, then finish anyway.
      const done = () => resolve({ code, signal });
      const grace = setTimeout(done, 500);
      child.once('close', () => {
        clearTimeout(grace);
        done();
      });
    });
  });
  // Output reaches the journal's file within FLUSH_MS of being printed (one write per
  // FLUSH_MS at most), so a crash of the agent keeps what the command had said.
  let flush: NodeJS.Timeout | undefined;
  const flushSoon = (): void => {
    flush ??= setTimeout(() => {
      flush = undefined;
      void ctx.journal.update(request.task, {}).catch(() => undefined);
    }, FLUSH_MS);
  };
  // Read output from the start: nothing may wait on an await before the streams are drained.
  let pending = 0;
  const pump = (stream: 'stdout' | 'stderr', source: NodeJS.ReadableStream) => {
    const decoder = new StringDecoder('utf8');
    source.on('data', (chunk: Buffer) => {
      ctx.journal.appendOutput(request.task, stream, decoder.write(chunk));
      flushSoon();
      pending += chunk.length;
      if (pending > MAX_PENDING_OUTPUT) source.pause();
      void ctx.output(stream, new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)).finally(() => {
        pending -= chunk.length;
        if (pending <= MAX_PENDING_OUTPUT / 2 && source.isPaused()) source.resume();
      });
    });
    source.on('end', () => ctx.journal.appendOutput(request.task, stream, decoder.end()));
  };
  pump('stdout', child.stdout);
  pump('stderr', child.stderr);
  child.stdin.on('error', () => undefined); // the command may exit without reading its input
  child.stdin.end(request.stdin ?? '');
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (error) => resolve(error));
  });
  if (spawned) throw new FlotillaError('file-error', `could not start the command: ${spawned.message}`);
  const pid = child.pid ?? 0;
  ctx.journal.note(request.task, { pid }); // written with the next output flush or the result

  let ending: 'timeout' | 'cancelled' | undefined;
  const stop = (why: 'timeout' | 'cancelled') => {
    if (ending) return;
    ending = why;
    killGroup(pid);
  };
  const timer = request.timeoutMs ? setTimeout(() => stop('timeout'), request.timeoutMs) : undefined;
  const onAbort = () => stop('cancelled');
  ctx.signal.addEventListener('abort', onAbort);

  const exit = await exited;
  if (timer) clearTimeout(timer);
  clearTimeout(flush);
  ctx.signal.removeEventListener('abort', onAbort);
  const exitCode = exit.code ?? (exit.signal ? 128 + (signalNumber(exit.signal) ?? 0) : -1);
  const result: ResultFields = {
    status: ending ?? (exit.code === 0 ? 'ok' : 'failed'),
    exitCode,
    startedAt,
    durationMs: Date.now() - startedAt,
    ...(ending === 'timeout' ? { error: { code: 'timeout', detail: `killed after ${request.timeoutMs} ms` } } : {}),
    ...(ending === 'cancelled' ? { error: { code: 'cancelled' } } : {}),
  };
  return result;
};

function signalNumber(signal: NodeJS.Signals): number | undefined {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13, SIGSEGV: 11, SIGABRT: 6 };
  return table[signal];
}
