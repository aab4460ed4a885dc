// The agent's terminal sessions: the table shared by `terminal.open` and `terminal.list`, the
// run-as user's account, and the pty itself. node-pty is imported on the first session only, so
// an agent that never opens a terminal never loads it (idle RSS budget).

import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, existsSync, openSync, readFileSync } from 'node:fs';
import { constants, userInfo } from 'node:os';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { PtyProcess } from './session.ts';
import { TerminalSession } from './session.ts';

/** Every session on this agent, by id. */
export const sessions = new Map<string, TerminalSession>();

/** A new session id: 16 base32-ish characters. */
export function newSessionId(): string {
  return randomBytes(10).toString('base64url').replace(/[-_]/g, 'x').slice(0, 14);
}

/** A user's account as a login needs it. */
export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

function fromPasswd(line: string): Account | undefined {
  const [name, , uid, gid, , home, shell] = line.trim().split(':');
  if (!name || uid === undefined || gid === undefined) return undefined;
  return { name, uid: Number(uid), gid: Number(gid), home: home || '/', shell: shell || '/bin/sh' };
}

/** The account of `name` (getent, then /etc/passwd); undefined when there is none. */
export function lookupAccount(name: string): Account | undefined {
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]*\$?$/.test(name)) return undefined;
  try {
    return fromPasswd(execFileSync('getent', ['passwd', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    try {
      const line = readFileSync('/etc/passwd', 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${name}:`));
      return line ? fromPasswd(line) : undefined;
    } catch {
      return undefined;
    }
  }
}

/** The agent's own account. */
export function ownAccount(): Account {
  const me = userInfo();
  return { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir, shell: me.shell || '/bin/sh' };
}

/**
 * Who a session runs as: the agent's policy `runAs` is a ceiling (a request may not name
 * another user); otherwise the request's user, which needs the agent to be root; otherwise the
 * agent's own user.
 */
export function runAsAccount(requested: string | undefined, runAs: string | undefined): Account {
  if (runAs && requested && requested !== runAs) throw new FlotillaError('policy-refused', `this agent opens terminals only as ${runAs}`);
  const name = requested ?? runAs;
  const own = ownAccount();
  if (!name || name === own.name) return withLoginShell(own);
  if (process.getuid?.() !== 0) throw new FlotillaError('policy-refused', `a terminal as ${name} needs the agent to run as root (it runs as ${own.name})`);
  const account = lookupAccount(name);
  if (!account) throw new FlotillaError('policy-refused', `no such user ${JSON.stringify(name)} on this host`);
  return withLoginShell(account);
}

/** The account, if its shell lets it log in (nologin and false do not, as for login and sshd). */
export function withLoginShell(account: Account): Account {
  if (/(^|\/)(nologin|false)$/.test(account.shell))
    throw new FlotillaError('policy-refused', `${account.name} has no login shell (${account.shell}), so no terminal opens as that user`);
  return account;
}

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name.replace(/^SIG/, '')]));

/** The name (without SIG) of signal number `n`. */
export function signalName(n: number): string | undefined {
  return SIGNAL_NAMES.get(n);
}

interface NodePty {
  spawn(
    file: string,
    args: string[],
    options: { name: string; cols: number; rows: number; cwd: string; env: Record<string, string>; uid?: number; gid?: number; encoding: null },
  ): {
    pid: number;
    onData(listener: (data: Uint8Array | string) => void): void;
    onExit(listener: (e: { exitCode: number; signal?: number }) => void): void;
    write(data: string | Uint8Array): void;
    resize(cols: number, rows: number): void;
    pause(): void;
    resume(): void;
    kill(signal?: string): void;
  };
}

let nodePty: Promise<NodePty> | undefined;

/** The directory of the running agent (the bundle's), where a package installed is found. */
function agentDir(): string {
  const script = process.argv[1];
  return script ? dirname(resolve(script)) : process.cwd();
}

/** node-pty, imported the first time a terminal opens. */
function loadPty(): Promise<NodePty> {
  nodePty ??= import('@lydell/node-pty').then(
    (m) => ((m as { default?: NodePty }).default ?? m) as NodePty,
    (error: unknown) => {
      nodePty = undefined;
      throw new FlotillaError(
        'unsupported',
        `this agent cannot open terminals: the package @lydell/node-pty is not installed beside it; on the host, run \`npm install @lydell/node-pty\` in ${agentDir()} and try again (${(error as Error).message.split('\n')[0]})`,
      );
    },
  );
  return nodePty;
}

/** What a new session runs. */
export interface Launch {
  account: Account;
  command: string | undefined;
  term: string;
  cols: number;
  rows: number;
}

/** The environment of a login: nothing of the agent's own (its variables stay its own). */
export function loginEnv(launch: Launch): Record<string, string> {
  const { account } = launch;
  return {
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    SHELL: account.shell,
    TERM: launch.term,
    PATH: account.uid === 0 ? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' : '/usr/local/bin:/usr/bin:/bin',
    LANG: process.env['LANG'] || 'C.UTF-8',
  };
}

/** Starts the account's login shell (or `command` through it) in a new pty. */
export async function spawnPty(launch: Launch): Promise<PtyProcess> {
  const pty = await loadPty();
  const { account } = launch;
  const shell = existsSync(account.shell) ? account.shell : '/bin/sh';
  const args = launch.command === undefined ? ['-l'] : ['-l', '-c', launch.command];
  const own = process.getuid?.() === account.uid;
  let child: ReturnType<NodePty['spawn']>;
  try {
    child = pty.spawn(shell, args, {
      name: launch.term,
      cols: launch.cols,
      rows: launch.rows,
      cwd: existsSync(account.home) ? account.home : '/',
      env: loginEnv(launch),
      ...(own ? {} : { uid: account.uid, gid: account.gid }),
      encoding: null,
    });
  } catch (error) {
    throw new FlotillaError('internal', `could not start ${shell}: ${(error as Error).message}`);
  }
  // The agent holds the pty's slave open itself while the program runs: when the last slave
  // closes, Linux may drop what the pty still held unread (the tail of a paused session's
  // output: 2-14 KB of seq 1 100000 in 1 run of 3; ssh -tt loses it too). Once the program is
  // gone the session reads the pty dry, then lets go (release).
  let slave: number | undefined;
  try {
    slave = openSync((child as unknown as { ptsName?: string }).ptsName ?? '', fsConstants.O_RDWR | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK);
  } catch {
    slave = undefined;
  }
  const release = () => {
    if (slave === undefined) return;
    const fd = slave;
    slave = undefined;
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
  };
  child.onExit(release);
  return {
    pid: child.pid,
    release,
    onData: (listener) => child.onData((data) => listener(typeof data === 'string' ? Buffer.from(data) : data)),
    onExit: (listener) =>
      child.onExit(({ exitCode, signal }) => {
        const name = signal ? signalName(signal) : undefined;
        listener(name ? { exitCode: 128 + signal!, signal: name } : { exitCode });
      }),
    write: (bytes) => child.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
    resize: (cols, rows) => child.resize(cols, rows),
    pause: () => child.pause(),
    resume: () => child.resume(),
    kill: (signal) => child.kill(signal),
  };
}

export { TerminalSession };
