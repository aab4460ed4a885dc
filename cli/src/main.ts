// flotilla: the command-line controller (same controller core as the PWA).

import { parseArgs } from 'node:util';
import { useNodeCrypto } from '../../node/platform.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { acceptCommand, deviceCommand, initCommand, tokenCommand } from './commands/admin.ts';
import { hostsCommand } from './commands/hosts.ts';
import { fleetCommand, importInitCommand } from './commands/fleet.ts';
import { connectCommand } from './commands/connect.ts';
import { selectorCommand } from './commands/selectors.ts';
import { removeCommand } from './commands/remove.ts';
import { queueCommand } from './commands/queue.ts';
import { historyCommand } from './commands/history.ts';
import { JOBS_USAGE, jobsCommand } from './commands/jobs.ts';
import { serveCommand } from './serve/serve-command.ts';
import { apiTokenCommand } from './serve/token-command.ts';
import { alertsCommand } from './commands/alerts.ts';
import { runControlProcess } from './control/daemon.ts';
import { currentScope } from './control/scope.ts';
import { CAPABILITY_COMMANDS, COMMANDS, scanArgv } from './control/argv.ts';
import type { CommandContext } from './commands/context.ts';
import { reportError, usageFromParseError, wantsJson, exitStatusOf, errorLine } from './cli-errors.ts';
import { connectTimeoutMs, invocationBoundMs, within } from './deadline.ts';

function usage(): string {
  return `flotilla: fleet control over end-to-end encrypted WebRTC

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
  accept <host…> | reject <host…>    decide on pending hosts (every device of the fleet sees it)
  remove <host…>                     take hosts out of the fleet: revoked, forgotten on every
                                     device, and unable to read what the fleet writes later
  device show                        this device
  device add <name> --home DIR [--role operator|viewer|admin] [--ttl 90d] [--no-shell]
                                     issue a certificate for another device (--no-shell:
                                     it may not open a terminal, whatever its role)
  device revoke <device-id>          revoke a device fleet-wide
  selector save <name> '<selector>' | selector list | selector rm <name>
                                     saved selectors, used as @name (docs/selectors.md)

Work (a <selector> is e.g. 'web-*', 'web[01:20]', 'tag:role=web and not db-1', 'os:linux', 'ip:10.0.0.0/24',
      'distro:debian,ubuntu', '@saved', 'one-of(tag:role=web)'; see docs/selectors.md)
${capabilityUsage()}
  queue list [--json]                tasks left for offline hosts (run/push --queue) from every
                                     device, with each host's state: queued, expired, cancelled,
                                     or its result's status and exit code
  queue show <task> | queue cancel <task>
                                     the hosts' output | cancel it on hosts that have not run it
  history [--host H] [--status S] [--since 7d] [--limit 50] [--json]
                                     tasks run or queued from every device, newest first
  alerts list | rules | history [--since 24h] [--host H] [--json]
                                     alerts firing or pending now, the rules and channels,
                                     state changes and notifications (from every host)
  alerts save <file.yaml> | alerts rm <name>
                                     save alert rules and channels (docs/alerts.md), remove one
  alerts silence <rule|selector> --for 1h [--host S] [--comment C] | alerts silences
  alerts offline save <name> <selector> --for 10m --webhook URL [--secret S] [--format F] [--email A]…
  alerts offline list | alerts offline rm <name>
                                     "host offline for N minutes", evaluated by the signaling
                                     server (admin devices; docs/alerts.md)

Jobs (run by the agents on their own schedule; docs/jobs.md)
  jobs save <job.yaml|job.json|->    save a job (or update the job of that name)
  jobs list | jobs show <name>       jobs with next run and hosts reporting them | one job
  jobs logs <name> [host] [-o wide] [--live]
                                     runs reported by the hosts (--live: asked of the agents)
  jobs run <name> [--param k=v…] [--async]
                                     run it now on its online hosts (checked against its params)
  jobs enable|disable|rm <name>      start, stop or uninstall a job everywhere
  jobs analysis [name] [--since 24h] last run, failures, hosts missing the job
Job API (docs/api.md)
  serve --api 127.0.0.1:8080 [--home DIR] [--api-public] [--rate 120/m]
                                     a headless controller with a REST API, as this home's
                                     device (loopback only unless --api-public)
  api-token create --scope read|invoke|admin [--name N] [--home DIR]
  api-token list | api-token revoke <name>
                                     the API's tokens (printed once, kept hashed)

Warm mode (connections kept open between invocations, like SSH's ControlPersist)
  connect [<selector>] [--persist 10m]
                                     start a control process for this home that keeps the
                                     device's connections open, dial the selected hosts
                                     (default '*') and show them; run, push, fetch, ping and
                                     shell then go through it instead of dialling
  connect --status | --stop          show or stop the control process
  --persist 10m     on run/push/fetch/ping/shell (or FLOTILLA_PERSIST=10m): start a control process
                    if none is running; it exits after this long without a request
  --no-persist      dial directly even when a control process is running

Options
  --json            machine-readable output
  --forks N         connections opened at once (default 32)
  --task ID         task id (re-sending an id returns the host's journaled result)
  --timeout D       bounds the whole invocation of any command, e.g. 30s (none by default;
                    run: see above)
  --canary N        rolling run, on every selector command: N hosts first, then
  --batch N|P%      batches of N hosts (or P% of them), waiting --batch-wait 30s between,
  --max-fail N|P%   and stopping once more hosts than this failed (docs/selectors.md)
  -v, --verbose     log connection events to stderr
  -h, --help        this help

Environment: FLOTILLA_HOME (default ~/.config/flotilla), FLOTILLA_PASSPHRASE (backup passphrase),
FLOTILLA_PERSIST (like --persist), FLOTILLA_CONNECT_TIMEOUT (how long to try the signaling
server before saying it cannot be reached; default 5s).
Errors: one line on stderr; with --json, {"error":{"code":…,"message":…}} on stdout.
Exit status: 0 all hosts ok; 1 some host failed, timed out or was unreachable, or the signaling
server could not be reached (hosts then prints the cached inventory, marked stale); 2 usage or
setup error; 3 run --json cut some host's output (over 4 MiB on a stream); 130 cancelled.`;
}

/** The usage lines of every capability's commands, aligned like the rest. */
function capabilityUsage(): string {
  return [...CAPABILITY_COMMANDS.values()]
    .map(({ spec }) => {
      const [synopsis = spec.name, ...more] = spec.usage;
      const first = synopsis.length < 35 && more.length ? `  ${synopsis.padEnd(35)}${more.shift()}` : `  ${synopsis}`;
      return [first, ...more.map((line) => `${' '.repeat(37)}${line}`)].join('\n');
    })
    .join('\n');
}

/** The options of the CLI itself; each capability's command adds its own (capabilities/<name>/spec.ts). */
const CORE_OPTIONS = {
  json: { type: 'boolean' },
  signal: { type: 'string' },
  name: { type: 'string' },
  force: { type: 'boolean' },
  ttl: { type: 'string' },
  timeout: { type: 'string' },
  forks: { type: 'string' },
  role: { type: 'string' },
  'no-shell': { type: 'boolean' },
  home: { type: 'string' },
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
  canary: { type: 'string' },
  batch: { type: 'string' },
  'batch-wait': { type: 'string' },
  'max-fail': { type: 'string' },
  host: { type: 'string' },
  since: { type: 'string' },
  limit: { type: 'string' },
  /** `serve --api ADDR`, `--api-public`, `--rate 120/m`; `api-token create --scope S`; `jobs run --param k=v --async`. */
  api: { type: 'string' },
  'api-public': { type: 'boolean' },
  rate: { type: 'string' },
  scope: { type: 'string' },
  param: { type: 'string', multiple: true },
  async: { type: 'boolean' },
  /** `history --status S` (renamed before parsing: `connect --status` is a switch). */
  'history-status': { type: 'string' },
  /** `jobs logs -o wide`. */
  output: { type: 'string', short: 'o' },
  live: { type: 'boolean' },
  for: { type: 'string' },
  comment: { type: 'string' },
  /** `alerts offline save --webhook URL --secret S --format slack --email a@b` (--email repeatable). */
  webhook: { type: 'string' },
  email: { type: 'string', multiple: true },
  secret: { type: 'string' },
  format: { type: 'string' },
} as const;

/** Runs a capability's command: its module (capabilities/<name>/cli.ts) is loaded only now. */
async function runCapabilityCommand(capability: string, command: string, ctx: CommandContext): Promise<number> {
  const module = (await import(`../../capabilities/${capability}/cli.ts`)) as {
    commands?: Record<string, ((ctx: CommandContext) => Promise<number>) | undefined>;
  };
  const run = module.commands?.[command];
  if (!run) throw new FlotillaError('internal', `capabilities/${capability}/cli.ts does not provide the command "${command}"`);
  return run(ctx);
}

type Write = (stream: 'stdout' | 'stderr', text: string) => void;

/** Runs the CLI; returns the exit status (errors reported as a line, or as JSON with --json). */
export async function main(argv: string[]): Promise<number> {
  const scope = currentScope();
  const write: Write = (stream, text) => (scope ? scope.write(stream, text) : process[stream].write(text));
  try {
    return await dispatch(argv, write);
  } catch (error) {
    return reportError(usageFromParseError(error, argv) ?? error, wantsJson(argv), write);
  }
}

async function dispatch(argv: string[], write: Write): Promise<number> {
  // Sessions seal records and files are hashed with node:crypto, not a thread-pool round trip.
  useNodeCrypto();
  const dash = argv.indexOf('--');
  const head = historyStatus(dash >= 0 ? argv.slice(0, dash) : argv);
  const rest = dash >= 0 ? argv.slice(dash + 1) : [];
  const capabilityOptions = Object.fromEntries([...CAPABILITY_COMMANDS.values()].flatMap((c) => Object.entries(c.spec.options ?? {})));
  const { values, positionals } = parseArgs({
    args: head,
    allowPositionals: true,
    options: { ...capabilityOptions, ...CORE_OPTIONS },
  });
  const [command, ...args] = positionals;
  const scope = currentScope();
  if (values.help && command === 'jobs') {
    write('stdout', JOBS_USAGE + '\n');
    return 0;
  }
  if (values.help || !command) {
    write('stdout', usage() + '\n');
    return command || values.help ? 0 : 2;
  }
  const forks = values.forks === undefined ? undefined : Number(values.forks);
  if (forks !== undefined && (!Number.isInteger(forks) || forks < 1))
    throw new FlotillaError('usage', `--forks ${values.forks} must be a positive whole number, as in --forks 32`);
  const { verbose, forks: _forks, import: importFrom, 'passphrase-file': passphraseFile, ...flags } = values;
  const backupOptions = { importFrom, passphraseFile };
  if (!COMMANDS.has(command)) throw new FlotillaError('usage', `"${command}" is not a flotilla command; see flotilla --help`);
  // --timeout bounds the whole invocation (run: the command's limit on each host, plus a grace).
  const boundMs = invocationBoundMs(command, values.timeout);
  const deadline = boundMs === undefined ? undefined : AbortSignal.timeout(boundMs);
  // In warm mode a command given up on must stop, not keep running in the control process.
  const givenUp = new AbortController();
  const signal = scope ? AbortSignal.any([scope.signal, givenUp.signal]) : undefined;
  const ctx: CommandContext = {
    args,
    rest,
    flags,
    fleetOptions: {
      // Inside the bound, so that an unreachable server is reported as such rather than as a timeout.
      connectTimeoutMs: Math.min(connectTimeoutMs(), boundMs === undefined ? Infinity : boundMs - Math.min(1000, boundMs / 5)),
      ...(forks ? { forks } : {}),
      ...(verbose ? { log: (event: string, fields?: Record<string, unknown>) => write('stderr', `[${event}] ${JSON.stringify(fields ?? {})}\n`) } : {}),
    },
    cwd: scope?.cwd ?? process.cwd(),
    ...(signal ? { signal } : {}),
    ...(deadline ? { deadline } : {}),
    out: (text) => write('stdout', text + '\n'),
    err: (text) => write('stderr', text + '\n'),
    write: (text) => write('stdout', text),
  };
  const running = runNamed(command, ctx, backupOptions);
  if (boundMs === undefined) return running;
  // `run` reports the hosts that did not answer by its deadline itself: this only catches a
  // run stuck before that (resolving the selector), a second later.
  return within(running, boundMs + (command === 'run' ? 1000 : 0), `flotilla ${command}`, () => givenUp.abort());
}

/** Runs one command. COMMANDS (control/argv.ts) is the one list of commands: the thin client and the code cache use it too. */
async function runNamed(
  command: string,
  ctx: CommandContext,
  backupOptions: { importFrom: string | undefined; passphraseFile: string | undefined },
): Promise<number> {
  const importFrom = backupOptions.importFrom;
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
    case 'device':
      return deviceCommand(ctx);
    case 'connect':
      return connectCommand(ctx);
    case 'selector':
      return selectorCommand(ctx);
    case 'remove':
      return removeCommand(ctx);
    case 'queue':
      return queueCommand(ctx);
    case 'history':
      return historyCommand(ctx);
    case 'jobs':
      return jobsCommand(ctx);
    case 'serve':
      return serveCommand(ctx, main);
    case 'api-token':
      return apiTokenCommand(ctx);
    case 'alerts':
      return alertsCommand(ctx);
    case 'control-process':
      // Started by `connect` or --persist (detached); not meant to be typed.
      if (currentScope()) throw new FlotillaError('usage', 'a control process cannot start another');
      return runControlProcess(ctx, { main, exitStatusFor });
    default: {
      const provided = CAPABILITY_COMMANDS.get(command);
      if (!provided) throw new FlotillaError('usage', `"${command}" is not a flotilla command; see flotilla --help`);
      return runCapabilityCommand(provided.capability, command, ctx);
    }
  }
}

/** `history --status S` takes a value where `connect --status` is a switch: renamed for history only. */
export function historyStatus(head: string[]): string[] {
  if (scanArgv(head).command !== 'history') return head;
  const at = head.indexOf('--status');
  if (at >= 0 && (head[at + 1] === undefined || head[at + 1]!.startsWith('-')))
    throw new FlotillaError('usage', '--status needs a status, as in: flotilla history --status failed');
  return head.map((word) => (word === '--status' ? '--history-status' : word.startsWith('--status=') ? `--history-status=${word.slice(9)}` : word));
}

/** Exit status for an error that escaped a command, after telling the user (cli-errors.ts; bin/run-main.js mirrors it). */
export function exitStatusFor(error: unknown, err: (text: string) => void): number {
  err(errorLine(error));
  return exitStatusOf(error);
}
