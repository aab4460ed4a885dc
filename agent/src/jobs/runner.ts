// Runs one job run: `sh -c <rendered command>`, or the job's interpreter with the script on stdin,
// in its own process group with the job's cwd and env (the parameters as FLOTILLA_PARAM_*), as
// the run-as user when the agent's policy allows it. A timeout kills the whole group (SIGTERM,
// then SIGKILL after KILL_GRACE_MS); so does `kill()` (overlap `replace`, the agent stopping).
// stdout and stderr are kept as tails of RUN_TAIL_MAX characters with a visible cut notice.

import { spawn, execFileSync } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { RUN_TAIL_MAX, type RunStatus } from '../../../shared/jobs/runs.ts';
import { checkCommand } from '../policy.ts';
import type { JobDoc } from '../../../shared/jobs/job.ts';
import type { AgentConfig } from '../config.ts';

export const KILL_GRACE_MS = 5000;
/** After the shell exits, how long grandchildren may keep its output pipes open. */
const PIPE_GRACE_MS = 500;

/** A stream's tail: at most `max` characters, and how many were cut before them. */
export class Tail {
  private text = '';
  private cut = 0;
  constructor(private readonly max = RUN_TAIL_MAX) {}
  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > 2 * this.max) {
      this.cut += this.text.length - this.max;
      this.text = this.text.slice(-this.max);
    }
  }
  /** The tail with the notice `[… N characters cut …]` when anything was cut. */
  value(): string {
    const over = this.text.length - this.max;
    const cut = this.cut + Math.max(0, over);
    if (cut === 0) return this.text;
    const notice = `[… ${cut} characters cut …]\n`;
    return notice + this.text.slice(Math.max(0, this.text.length - this.max + notice.length));
  }
}

export interface RunOutcome {
  status: Exclude<RunStatus, 'running' | 'skipped'>;
  exit?: number;
  signal?: string;
  stdout: string;
  stderr: string;
  error?: string;
  startedAt: number;
  endedAt: number;
}

export interface StartedRun {
  pid: number;
  /** Kills the process group (TERM, then KILL); the outcome's status is `killed`. */
  kill(): void;
  readonly done: Promise<RunOutcome>;
}

function userIds(user: string): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new FlotillaError('policy-refused', `no such user ${JSON.stringify(user)}`);
  }
}

/**
 * The user a job runs as, within the agent's ceiling (config.runAs: when set, jobs run as that
 * user and may name no other); throws `policy-refused` with the reason.
 */
export function runAsUser(job: Pick<JobDoc, 'policy'>, config: Pick<AgentConfig, 'runAs'>): string | undefined {
  const wanted = job.policy.runAs;
  if (config.runAs && wanted && wanted !== config.runAs)
    throw new FlotillaError('policy-refused', `runAs ${wanted}: this agent runs commands only as ${config.runAs}`);
  const user = wanted ?? config.runAs;
  if (user && process.getuid?.() !== 0) throw new FlotillaError('policy-refused', `runAs ${user}: running as another user needs the agent to run as root`);
  return user;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Starts a run; throws a FlotillaError (a refused command or user, a program that cannot start) before anything runs. */
export async function startRun(
  job: Pick<JobDoc, 'name' | 'interpreter' | 'policy'>,
  rendered: { command: string; env: Record<string, string> },
  config: Pick<AgentConfig, 'runAs' | 'refuseCommands'>,
): Promise<StartedRun> {
  checkCommand(rendered.command, config.refuseCommands);
  const user = runAsUser(job, config);
  const ids = user ? userIds(user) : undefined;
  const startedAt = Date.now();
  const [file, args] = job.interpreter ? [job.interpreter, []] : ['/bin/sh', ['-c', rendered.command]];
  const child = spawn(file, args, {
    cwd: job.policy.cwd ?? process.env['HOME'] ?? '/',
    env: { ...process.env, ...job.policy.env, ...rendered.env, FLOTILLA_JOB: job.name },
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(ids ?? {}),
  });
  const out = new Tail();
  const err = new Tail();
  const decode = (source: NodeJS.ReadableStream, into: Tail) => {
    const decoder = new StringDecoder('utf8');
    source.on('data', (chunk: Buffer) => into.push(decoder.write(chunk)));
    source.on('end', () => into.push(decoder.end()));
  };
  decode(child.stdout, out);
  decode(child.stderr, err);
  child.stdin.on('error', () => undefined);
  child.stdin.end(job.interpreter ? rendered.command : '');
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (error) => resolve(error));
  });
  if (spawned) throw new FlotillaError('file-error', `could not start ${file}: ${spawned.message}`);
  const pid = child.pid ?? 0;

  let ending: 'timeout' | 'killed' | undefined;
  let hardKill: NodeJS.Timeout | undefined;
  const stop = (why: 'timeout' | 'killed') => {
    if (ending) return;
    ending = why;
    killGroup(pid, 'SIGTERM');
    hardKill = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
  };
  const timer = job.policy.timeoutSec > 0 ? setTimeout(() => stop('timeout'), job.policy.timeoutSec * 1000) : undefined;

  const done = new Promise<RunOutcome>((resolve) => {
    let grace: NodeJS.Timeout | undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const finish = () => {
      clearTimeout(grace);
      clearTimeout(timer);
      // The group stays under the KILL timer: children that ignored TERM still go.
      if (hardKill && !ending) clearTimeout(hardKill);
      const e = exit ?? { code: null, signal: null };
      const status = ending ?? (e.code === 0 ? 'ok' : 'failed');
      resolve({
        status,
        ...(e.code === null ? {} : { exit: e.code }),
        ...(e.signal ? { signal: e.signal } : {}),
        stdout: out.value(),
        stderr: err.value(),
        ...(ending === 'timeout' ? { error: `killed after ${job.policy.timeoutSec} s (timeoutSec)` } : {}),
        startedAt,
        endedAt: Date.now(),
      });
    };
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      grace = setTimeout(finish, PIPE_GRACE_MS);
    });
    child.once('close', finish);
  });
  let settled = false;
  void done.then(() => (settled = true));
  return {
    pid,
    kill: () => {
      if (!settled) stop('killed');
    },
    done,
  };
}
