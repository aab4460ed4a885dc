// flotilla-signal's command line: parses flags (with FLOTILLA_SIGNAL_* environment fallbacks),
// starts the server and closes it gracefully on SIGINT or SIGTERM.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { Limits } from './limits.ts';
import { createLogger, errorText, isLogLevel, type LogLevel } from './log.ts';
import { STORE_BACKENDS, type StoreBackend } from './store/open.ts';
import { startSignalingServer, type SignalingServerOptions } from './server.ts';
import { checkTurnUrl, DEFAULT_TURN_TTL_S, parseTurnSecret } from './turn.ts';
import { parseMailAllow, parseSmtpUrl } from './mail.ts';
import { isMailAddress } from '../../shared/alerts/mail-address.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const USAGE = `Usage: flotilla-signal [options]

The Flotilla rendezvous server: PeerJS signaling for agents and devices, presence,
revocation lists, the fleets' sealed record store, a STUN responder, the web app and
the agent bundle.

Options (environment fallback in brackets):
  --port <n>            HTTP and PeerJS port (default 9000)           [FLOTILLA_SIGNAL_PORT]
  --host <addr>         address to listen on (default 0.0.0.0)        [FLOTILLA_SIGNAL_HOST]
  --stun-port <n>       UDP STUN port, 0 picks one (default 3478)     [FLOTILLA_SIGNAL_STUN_PORT]
  --data-dir <dir>      keep presence, revocation lists and the store [FLOTILLA_SIGNAL_DATA_DIR]
  --web-root <dir>      built web app (default dist/web)              [FLOTILLA_SIGNAL_WEB_ROOT]
  --agent-bundle <file> agent bundle (default dist/flotilla-agent.mjs) [FLOTILLA_SIGNAL_AGENT_BUNDLE]
  --max-peers <n>       most peers registered at once (default 10000) [FLOTILLA_SIGNAL_MAX_PEERS]
  --max-connections-per-ip <n>  open connections from one address,    [FLOTILLA_SIGNAL_MAX_CONNECTIONS_PER_IP]
                        IPv6 per /64 (default 256): raise it when more
                        agents than that share one NAT address
  --log-level <level>   debug, info, warn or error (default info)     [FLOTILLA_SIGNAL_LOG_LEVEL]
  --turn-secret-file <f> coturn static-auth-secret (first line of f)  [FLOTILLA_SIGNAL_TURN_SECRET_FILE]
  --turn-url <url>      TURN URL handed to authenticated peers, e.g.  [FLOTILLA_SIGNAL_TURN_URL,
                        turn:turn.example.org:3478?transport=udp;      space-separated]
                        repeat for tcp and turns: (needs --turn-secret-file)
  --turn-ttl <seconds>  lifetime of TURN credentials (default 3600)   [FLOTILLA_SIGNAL_TURN_TTL]
  --store <backend>     sealed record store: sqlite (default with     [FLOTILLA_SIGNAL_STORE]
                        --data-dir: <data-dir>/store.sqlite) or memory
                        (default without; lost on restart)
  --store-max-records <n>  records per fleet (default 50000)          [FLOTILLA_SIGNAL_STORE_MAX_RECORDS]
  --store-max-bytes <size> record bytes per fleet, e.g. 256MiB        [FLOTILLA_SIGNAL_STORE_MAX_BYTES]
                        (default 256MiB; plain bytes or KiB, MiB, GiB)
  --store-max-ttl <time>   longest record lifetime, and that of a     [FLOTILLA_SIGNAL_STORE_MAX_TTL]
                        record without exp, e.g. 400d, 12h (default 400d)
  --push-subject <uri>  the VAPID contact push services see, mailto:   [FLOTILLA_SIGNAL_PUSH_SUBJECT]
                        or https: (default mailto:flotilla@localhost)
  --push-allow-loopback also relay Web Push to http://127.0.0.1 (tests;
                        by default only the browsers' push services)
  --offline-check-every <time>  how often offline rules look at        [FLOTILLA_SIGNAL_OFFLINE_CHECK_EVERY]
                        presence (default 15s)
  --offline-allow-loopback  offline rules' webhooks may call this
                        machine's loopback (tests, a local receiver)
  --offline-test-minute <time>  how long a rule's minute lasts (tests
                        only, e.g. 1s; default 60s)
  --smtp <url>          send alert mail for the fleets through this SMTP [FLOTILLA_SMTP]
                        server: smtp://user:pass@host:587 (STARTTLS when
                        offered) or smtps://user:pass@host:465 (TLS);
                        prefer the environment for the password
  --mail-from <address> the From of that mail (needed with --smtp)    [FLOTILLA_SIGNAL_MAIL_FROM]
  --mail-allow <list>   domains and addresses the server may mail,     [FLOTILLA_SIGNAL_MAIL_ALLOW]
                        comma-separated or repeated (example.com,
                        oncall@example.org); none by default: nobody
                        is mailed until you name them
  --help                show this text

Logs are JSON lines on stdout. Without --data-dir nothing is written to disk.
Writes to the store are limited to 50/s (burst 200) per fleet.
`;

const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'stun-port': { type: 'string' },
  'data-dir': { type: 'string' },
  'web-root': { type: 'string' },
  'agent-bundle': { type: 'string' },
  'max-peers': { type: 'string' },
  'max-connections-per-ip': { type: 'string' },
  'log-level': { type: 'string' },
  'turn-secret-file': { type: 'string' },
  'turn-url': { type: 'string', multiple: true },
  'turn-ttl': { type: 'string' },
  store: { type: 'string' },
  'store-max-records': { type: 'string' },
  'store-max-bytes': { type: 'string' },
  'store-max-ttl': { type: 'string' },
  'push-subject': { type: 'string' },
  'push-allow-loopback': { type: 'boolean' },
  'offline-check-every': { type: 'string' },
  'offline-allow-loopback': { type: 'boolean' },
  'offline-test-minute': { type: 'string' },
  smtp: { type: 'string' },
  'mail-from': { type: 'string' },
  'mail-allow': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The Web Push relay's flags: its VAPID subject (mailto: or https:), and loopback push services for tests. */
function push(subject: string | undefined, allowLoopback: boolean): Pick<SignalingServerOptions, 'push'> {
  if (subject !== undefined && !/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/.test(subject))
    throw new FlotillaError('bad-config', `--push-subject must be a mailto: address or an https: URL push services may contact, not "${subject}"`);
  if (subject === undefined && !allowLoopback) return {};
  return { push: { ...(subject === undefined ? {} : { subject }), ...(allowLoopback ? { allowLoopback } : {}) } };
}

/** The offline rules' flags: check interval, loopback webhooks and the test-only length of a minute. */
function offline(every: string | undefined, allowLoopback: boolean, minute: string | undefined): Pick<SignalingServerOptions, 'offline'> {
  if (every === undefined && !allowLoopback && minute === undefined) return {};
  return {
    offline: {
      ...(every === undefined ? {} : { checkEveryMs: duration('offline-check-every', every) }),
      ...(allowLoopback ? { allowLoopback } : {}),
      ...(minute === undefined ? {} : { minuteMs: duration('offline-test-minute', minute) }),
    },
  };
}

/** --smtp (or FLOTILLA_SMTP, so the password stays off the command line), --mail-from and --mail-allow. */
function mail(smtpUrl: string | undefined, from: string | undefined, allowFlags: string[]): Pick<SignalingServerOptions, 'mail'> {
  if (smtpUrl === undefined) {
    if (from !== undefined || allowFlags.length > 0) throw new FlotillaError('bad-config', '--mail-from and --mail-allow need --smtp (or FLOTILLA_SMTP)');
    return {};
  }
  const smtp = parseSmtpUrl(smtpUrl);
  if (from === undefined) throw new FlotillaError('bad-config', '--smtp needs --mail-from, the address the mail comes from');
  if (!isMailAddress(from))
    throw new FlotillaError('bad-config', `--mail-from must be a plain address such as flotilla@example.com, not "${from.slice(0, 80)}"`);
  return { mail: { smtp, from, allow: parseMailAllow(allowFlags) } };
}

/** Parsed command line: server options plus the log level, or a request for help. */
export type SignalArgs = { help: true } | { help: false; options: SignalingServerOptions; logLevel: LogLevel };

function integer(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new FlotillaError('bad-config', `--${name} must be a whole number from ${min} to ${max}, not "${text}"`);
  }
  return Number(text);
}

const SIZE_UNITS: Record<string, number> = { '': 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
const TIME_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A byte count: plain, or with KiB, MiB or GiB. */
function size(name: string, text: string): number {
  const match = /^(\d{1,12})(KiB|MiB|GiB)?$/.exec(text);
  const bytes = match ? Number(match[1]) * (SIZE_UNITS[match[2] ?? ''] ?? 1) : 0;
  if (bytes < 1 || bytes > 2 ** 50) throw new FlotillaError('bad-config', `--${name} must be a size such as 1048576, 512KiB, 256MiB or 2GiB, not "${text}"`);
  return bytes;
}

/** A duration with its unit: s, m, h or d. */
function duration(name: string, text: string): number {
  const match = /^(\d{1,6})(s|m|h|d)$/.exec(text);
  const ms = match ? Number(match[1]) * (TIME_UNITS[match[2] ?? 's'] ?? 1000) : 0;
  if (ms < 1000 || ms > 100 * 365 * 86_400_000)
    throw new FlotillaError('bad-config', `--${name} must be a time such as 3600s, 90m, 12h or 400d, not "${text}"`);
  return ms;
}

/** --store and its limits; only what is set. */
function parseStoreArgs(get: (name: 'store' | 'store-max-records' | 'store-max-bytes' | 'store-max-ttl') => string | undefined): {
  store?: StoreBackend;
  limits: Partial<Limits>;
} {
  const backend = get('store');
  if (backend !== undefined && !STORE_BACKENDS.some((b) => b === backend)) {
    throw new FlotillaError('bad-config', `--store must be ${STORE_BACKENDS.join(' or ')}, not "${backend}"`);
  }
  const records = get('store-max-records');
  const bytes = get('store-max-bytes');
  const ttl = get('store-max-ttl');
  return {
    ...(backend === undefined ? {} : { store: backend as StoreBackend }),
    limits: {
      ...(records === undefined ? {} : { storeMaxRecords: integer('store-max-records', records, 1, 100_000_000) }),
      ...(bytes === undefined ? {} : { storeMaxBytes: size('store-max-bytes', bytes) }),
      ...(ttl === undefined ? {} : { storeMaxTtlMs: duration('store-max-ttl', ttl) }),
    },
  };
}

/** --turn-secret-file, --turn-url (repeatable) and --turn-ttl: both or neither of file and URL. */
function parseTurnArgs(
  flagUrls: string | boolean | string[] | undefined,
  get: (name: 'turn-secret-file' | 'turn-ttl' | 'turn-url') => string | undefined,
): SignalingServerOptions['turn'] {
  const urls = Array.isArray(flagUrls) && flagUrls.length > 0 ? flagUrls : (get('turn-url') ?? '').split(/\s+/).filter(Boolean);
  const file = get('turn-secret-file');
  if (file === undefined && urls.length === 0) return undefined;
  if (file === undefined) throw new FlotillaError('bad-config', "--turn-url needs --turn-secret-file (coturn's static-auth-secret)");
  if (urls.length === 0) throw new FlotillaError('bad-config', '--turn-secret-file needs at least one --turn-url');
  let text: string;
  try {
    text = readFileSync(resolve(file), 'utf8');
  } catch (error) {
    throw new FlotillaError('bad-config', `cannot read --turn-secret-file ${file}: ${errorText(error)}`);
  }
  return {
    secret: parseTurnSecret(text, file),
    urls: urls.map(checkTurnUrl),
    ttlS: integer('turn-ttl', get('turn-ttl') ?? String(DEFAULT_TURN_TTL_S), 60, 7 * 86_400),
  };
}

/** Parses flags; each unset flag falls back to FLOTILLA_SIGNAL_<NAME> in `env`. Throws bad-config. */
export function parseSignalArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): SignalArgs {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new FlotillaError('bad-config', errorText(error));
  }
  if (values['help'] === true) return { help: true };
  const get = (name: keyof typeof FLAGS): string | undefined => {
    const value = values[name];
    if (typeof value === 'string') return value;
    const fallback = env[`FLOTILLA_SIGNAL_${name.toUpperCase().replace(/-/g, '_')}`];
    return fallback === undefined || fallback === '' ? undefined : fallback;
  };
  const logLevel = get('log-level') ?? 'info';
  if (!isLogLevel(logLevel)) throw new FlotillaError('bad-config', `--log-level must be debug, info, warn or error, not "${logLevel}"`);
  const maxPeers = get('max-peers');
  const perIp = get('max-connections-per-ip');
  const dataDir = get('data-dir');
  const turn = parseTurnArgs(values['turn-url'], get);
  const store = parseStoreArgs(get);
  if (store.store === 'sqlite' && dataDir === undefined)
    throw new FlotillaError('bad-config', '--store sqlite needs --data-dir (the store is <data-dir>/store.sqlite)');
  const limits: Partial<Limits> = {
    ...(maxPeers === undefined ? {} : { maxPeers: integer('max-peers', maxPeers, 1, 1_000_000) }),
    ...(perIp === undefined ? {} : { maxConnectionsPerIp: integer('max-connections-per-ip', perIp, 1, 1_000_000) }),
    ...store.limits,
  };
  const options: SignalingServerOptions = {
    port: integer('port', get('port') ?? '9000', 0, 65535),
    host: get('host') ?? '0.0.0.0',
    stunPort: integer('stun-port', get('stun-port') ?? '3478', 0, 65535),
    webRoot: resolve(get('web-root') ?? resolve(REPO_ROOT, 'dist/web')),
    agentBundle: resolve(get('agent-bundle') ?? resolve(REPO_ROOT, 'dist/flotilla-agent.mjs')),
    ...(dataDir === undefined ? {} : { dataDir: resolve(dataDir) }),
    ...(Object.keys(limits).length === 0 ? {} : { limits }),
    ...(turn === undefined ? {} : { turn }),
    ...(store.store === undefined ? {} : { store: store.store }),
    ...push(get('push-subject'), values['push-allow-loopback'] === true),
    ...offline(get('offline-check-every'), values['offline-allow-loopback'] === true, values['offline-test-minute'] as string | undefined),
    ...mail(
      get('smtp') ?? (env['FLOTILLA_SMTP'] || undefined),
      get('mail-from'),
      Array.isArray(values['mail-allow']) && values['mail-allow'].length > 0 ? values['mail-allow'] : (get('mail-allow')?.split(',') ?? []),
    ),
  };
  return { help: false, options, logLevel };
}

/**
 * Runs the server until SIGINT or SIGTERM. Resolves once it listens; a bad flag or a port in
 * use prints one sentence to stderr and sets a non-zero exit code instead of throwing.
 */
export async function main(argv: string[]): Promise<void> {
  let args: SignalArgs;
  try {
    args = parseSignalArgs(argv);
  } catch (error) {
    process.stderr.write(`flotilla-signal: ${errorText(error)}\nRun flotilla-signal --help for the options.\n`);
    process.exitCode = 2;
    return;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  const log = createLogger({ level: args.logLevel });
  let server: Awaited<ReturnType<typeof startSignalingServer>>;
  try {
    server = await startSignalingServer({ ...args.options, log });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const sentence = code === 'EADDRINUSE' ? 'the port is already in use; pick another with --port or --stun-port' : errorText(error);
    log.error('signal.start-failed', { error: errorText(error), code });
    process.stderr.write(`flotilla-signal: could not start: ${sentence}\n`);
    process.exitCode = 1;
    return;
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn('signal.forced-exit', { signal });
      process.exit(1);
    }
    stopping = true;
    log.info('signal.stopping', { signal });
    server
      .close()
      .catch((error: unknown) => {
        log.error('signal.close-failed', { error: errorText(error) });
        process.exitCode = 1;
      })
      // PeerServer 1.0.2 re-arms two internal timers forever and offers no way to stop them,
      // so the event loop never empties by itself: exit once everything of ours is closed.
      .finally(() => process.exit());
  };
  // The first signal closes gracefully; a second one while closing forces the exit.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
