// flotilla: the command-line controller (same controller core as the PWA).

import { parseArgs } from 'node:util';
import { FlotillaError } from '../../shared/errors.ts';
import { acceptCommand, deviceCommand, initCommand, tagCommand, tokenCommand } from './commands/admin.ts';
import { hostsCommand, pingCommand } from './commands/hosts.ts';
import { runCommand } from './commands/run.ts';
import { fetchCommand, pushCommand } from './commands/files.ts';
import { fleetCommand, importInitCommand } from './commands/fleet.ts';
import { connectCommand } from './commands/connect.ts';
import { runControlProcess } from './control/daemon.ts';
import { currentScope } from './control/scope.ts';
import { COMMANDS } from './control/argv.ts';
import type { CommandContext } from './commands/context.ts';

const USAGE = `flotilla: fleet control over end-to-end encrypted WebRTC

Usage: flotilla <command> [options]

Fleet
  init --signal URL [--name N]       create a fleet and this admin device
  init --import <backup|file> --passphrase-file F [--name N]
                                     make this an admin device of a backed-up fleet
  fleet export [--passphrase-file F] print a passphrase-encrypted backup of the fleet key
                                     (passphrase of 8+ characters, or in $FLOTILLA_PASSPHRASE)
  token create [--ttl 24h] [--uses N] make a join token (for N hosts, default 1) and the install command
  token list | token revoke <id>     list or revoke join tokens
  hosts [--refresh] [--probe] [--json]
                                     the inventory: status, OS, tags, last seen; with
                                     --probe (or open connections in warm mode) also the
                                     path (direct/relayed, candidate types, udp/tcp) and RTT
  accept <host…> | reject <host…>    decide on pending hosts
  tag <host> key=value…              set tags on a host (key= removes)
  device show                        this device
  device add <name> --home DIR [--role operator|viewer|admin] [--ttl 90d]
                                     issue a certificate for another device
  device revoke <device-id>          revoke a device fleet-wide

Work (a <selector> is e.g. 'web-*', 'tag:role=web and not db-1', 'os:linux', 'one-of(tag:role=web)')
  ping <selector>                    round trip and connection path per host
  run <selector> [--timeout 30s] [--cwd DIR] [--env K=V] [--user U] -- <command…>
                                     (one argument is a shell line: -- 'ls | wc -l'; several are exact words)
  push <selector> <local-file> <remote-path> [--mode 0644]
  fetch <selector> <remote-path> <local-dir>      (one file per host: <local-dir>/<host>/<name>)

Warm mode (connections kept open between invocations, like SSH's ControlPersist)
  connect [<selector>] [--persist 10m]
                                     start a control process for this home that keeps the
                                     device's connections open, dial the selected hosts
                                     (default '*') and show them; run, push, fetch and ping
                                     then go through it instead of dialling
  connect --status | --stop          show or stop the control process
  --persist 10m     on run/push/fetch/ping (or FLOTILLA_PERSIST=10m): start a control process
                    if none is running; it exits after this long without a request
  --no-persist      dial directly even when a control process is running

Options
  --json            machine-readable output
  --forks N         connections opened at once (default 32)
  --task ID         task id (re-sending an id returns the host's journaled result)
  -v, --verbose     log connection events to stderr
  -h, --help        this help

Environment: FLOTILLA_HOME (default ~/.config/flotilla), FLOTILLA_PASSPHRASE (backup passphrase),
FLOTILLA_PERSIST (like --persist).
Exit status: 0 all hosts ok, 1 some host failed or was unreachable, 2 usage or setup error,
3 run --json cut some host's output (over 4 MiB on a stream), 130 cancelled.`;

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const head = dash >= 0 ? argv.slice(0, dash) : argv;
  const rest = dash >= 0 ? argv.slice(dash + 1) : [];
  const { values, positionals } = parseArgs({
    args: head,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      signal: { type: 'string' },
      name: { type: 'string' },
      force: { type: 'boolean' },
      ttl: { type: 'string' },
      timeout: { type: 'string' },
      forks: { type: 'string' },
      mode: { type: 'string' },
      role: { type: 'string' },
      home: { type: 'string' },
      cwd: { type: 'string' },
      env: { type: 'string', multiple: true },
      user: { type: 'string' },
      task: { type: 'string' },
      refresh: { type: 'boolean' },
      probe: { type: 'boolean' },
      uses: { type: 'string' },
      import: { type: 'string' },
      'passphrase-file': { type: 'string' },
      persist: { type: 'string' },
      'no-persist': { type: 'boolean' },
      stop: { type: 'boolean' },
      status: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  const scope = currentScope();
  const write = (stream: 'stdout' | 'stderr', text: string) => (scope ? scope.write(stream, text) : process[stream].write(text));
  if (values.help || !command) {
    write('stdout', USAGE + '\n');
    return command || values.help ? 0 : 2;
  }
  const forks = values.forks === undefined ? undefined : Number(values.forks);
  if (forks !== undefined && (!Number.isInteger(forks) || forks < 1)) throw new FlotillaError('bad-config', '--forks must be a positive integer');
  const { verbose, forks: _forks, import: importFrom, 'passphrase-file': passphraseFile, ...flags } = values;
  const backupOptions = { importFrom, passphraseFile };
  const ctx: CommandContext = {
    args,
    rest,
    flags,
    fleetOptions: {
      ...(forks ? { forks } : {}),
      ...(verbose ? { log: (event: string, fields?: Record<string, unknown>) => write('stderr', `[${event}] ${JSON.stringify(fields ?? {})}\n`) } : {}),
    },
    cwd: scope?.cwd ?? process.cwd(),
    ...(scope ? { signal: scope.signal } : {}),
    out: (text) => write('stdout', text + '\n'),
    err: (text) => write('stderr', text + '\n'),
    write: (text) => write('stdout', text),
  };
  // COMMANDS (control/argv.ts) is the one list of commands: the thin client and the code cache
  // use it too, so a command missing there is unknown here as well.
  if (!COMMANDS.has(command)) throw new FlotillaError('bad-config', `unknown command "${command}"; see flotilla --help`);
  switch (command) {
    case 'init':
      return importFrom === undefined ? initCommand(ctx) : importInitCommand(ctx, backupOptions);
    case 'fleet':
      return fleetCommand(ctx, backupOptions);
    case 'token':
      return tokenCommand(ctx);
    case 'hosts':
      return hostsCommand(ctx);
    case 'accept':
      return acceptCommand(ctx, false);
    case 'reject':
      return acceptCommand(ctx, true);
    case 'tag':
      return tagCommand(ctx);
    case 'device':
      return deviceCommand(ctx);
    case 'ping':
      return pingCommand(ctx);
    case 'run':
      return runCommand(ctx);
    case 'push':
      return pushCommand(ctx);
    case 'fetch':
      return fetchCommand(ctx);
    case 'connect':
      return connectCommand(ctx);
    case 'control-process':
      // Started by `connect` or --persist (detached); not meant to be typed.
      if (scope) throw new FlotillaError('bad-config', 'a control process cannot start another');
      return runControlProcess(ctx);
    default:
      throw new FlotillaError('bad-config', `unknown command "${command}"; see flotilla --help`);
  }
}

/** Exit status for an error that escaped a command, after telling the user (same as bin/launch.js). */
export function exitStatusFor(error: unknown, err: (text: string) => void): number {
  if (error instanceof FlotillaError) {
    err(`error: ${error.message}`);
    return error.code === 'no-match' || error.code === 'unreachable' ? 1 : 2;
  }
  if ((error as { code?: unknown } | null)?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    err(`error: ${(error as Error).message}; see --help`);
    return 2;
  }
  err(`internal error: ${error instanceof Error && error.stack ? error.stack : String(error)}`);
  return 70;
}
