// Agent configuration from a JSON file, the environment and flags (flags win), validated.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { isObj } from '../../shared/wire/validate.ts';
import { DEFAULT_HANDSHAKES_PER_MINUTE } from './handshake-limit.ts';
import { parseTerminalConfig, type TerminalConfig } from './terminal-config.ts';

/** Everything the agent can be told. */
export interface AgentConfig {
  stateDir: string;
  /** Signaling URL; normally comes from the join token. */
  signal: string | undefined;
  /** ICE servers; default is the signaling server's own STUN (port 3478). */
  iceServers: { urls: string | string[]; username?: string; credential?: string }[] | undefined;
  tags: Record<string, string>;
  region: string | undefined;
  /** File operations are confined to these directories. */
  allowedRoots: string[];
  /** Commands matching any of these regular expressions are refused. */
  refuseCommands: string[];
  /** Run commands as this user (agent must be root), unless a request narrows it. */
  runAs: string | undefined;
  maxConcurrentTasks: number;
  /** Handshakes one device may start in a minute (handshake-limit.ts). */
  handshakesPerMinute: number;
  maxPushBytes: number;
  /** Terminal sessions (capabilities/terminal): limits, detach and idle times, recordings. */
  terminal: TerminalConfig;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Host metrics sampling (capabilities/metrics): every `intervalSeconds`, 1–60. */
  metrics: { intervalSeconds: number };
}

/** Default state directory: /var/lib/flotilla-agent for root, ~/.local/state/flotilla-agent otherwise. */
export function defaultStateDir(): string {
  return process.getuid?.() === 0 ? '/var/lib/flotilla-agent' : join(homedir(), '.local', 'state', 'flotilla-agent');
}

function parseTag(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new FlotillaError('bad-config', `tag "${text}" must be key=value`);
  return [text.slice(0, eq).trim(), text.slice(eq + 1).trim()];
}

/** Parses "k=v,k2=v2" into a map. */
export function parseTags(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list.flatMap((s) => s.split(',')).filter((s) => s.trim())) {
    const [k, v] = parseTag(item);
    out[k] = v;
  }
  return out;
}

function fileConfig(path: string | undefined): Record<string, unknown> {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new FlotillaError('bad-config', `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!isObj(parsed)) throw new Error('expected a JSON object');
    return parsed;
  } catch (error) {
    throw new FlotillaError('bad-config', `${path}: ${(error as Error).message}`);
  }
}

/** Flags as parsed by the command line. */
export interface AgentFlags {
  config?: string;
  stateDir?: string;
  signal?: string;
  tag?: string[];
  region?: string;
  allowRoot?: string[];
  iceServer?: string[];
  logLevel?: string;
}

function strings(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new FlotillaError('bad-config', `${what} must be a list of strings`);
  return value;
}

function optString(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new FlotillaError('bad-config', `${what} must be a string`);
  return value;
}

/** Merges file, environment and flags; flags win, then environment, then file. */
export function loadConfig(flags: AgentFlags, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const stateDir = resolve(flags.stateDir ?? env['FLOTILLA_STATE_DIR'] ?? defaultStateDir());
  const file = fileConfig(flags.config ?? env['FLOTILLA_AGENT_CONFIG'] ?? join(stateDir, 'config.json'));
  const fileTags = isObj(file['tags']) ? Object.entries(file['tags']).map(([k, v]) => `${k}=${String(v)}`) : [];
  // Roots are PATH-like (colon-separated); ICE URLs contain colons, so they split on commas only.
  const envList = (name: string, separator = /[,:]/) => (env[name] ? env[name].split(separator).filter(Boolean) : []);
  const iceFromFlags = [...(flags.iceServer ?? []), ...envList('FLOTILLA_ICE_SERVERS', /,/)];
  const level = flags.logLevel ?? env['FLOTILLA_LOG_LEVEL'] ?? optString(file['logLevel'], 'logLevel') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new FlotillaError('bad-config', `log level "${level}"`);
  const roots = flags.allowRoot?.length
    ? flags.allowRoot
    : envList('FLOTILLA_ALLOWED_ROOTS').length
      ? envList('FLOTILLA_ALLOWED_ROOTS')
      : strings(file['allowedRoots'], 'allowedRoots');
  const number = (value: unknown, fallback: number, what: string): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new FlotillaError('bad-config', `${what} must be a positive integer`);
    return value;
  };
  return {
    stateDir,
    signal: flags.signal ?? env['FLOTILLA_SIGNAL'] ?? optString(file['signal'], 'signal'),
    iceServers: iceFromFlags.length
      ? iceFromFlags.map((urls) => ({ urls }))
      : Array.isArray(file['iceServers'])
        ? (file['iceServers'] as AgentConfig['iceServers'])
        : undefined,
    tags: { ...parseTags(fileTags), ...parseTags(envList('FLOTILLA_TAGS', /,/)), ...parseTags(flags.tag ?? []) },
    region: flags.region ?? env['FLOTILLA_REGION'] ?? optString(file['region'], 'region'),
    allowedRoots: (roots.length ? roots : ['/']).map((r) => resolve(r)),
    refuseCommands: strings(file['refuseCommands'], 'refuseCommands'),
    runAs: optString(file['runAs'], 'runAs'),
    maxConcurrentTasks: number(file['maxConcurrentTasks'], 64, 'maxConcurrentTasks'),
    handshakesPerMinute: number(file['handshakesPerMinute'], DEFAULT_HANDSHAKES_PER_MINUTE, 'handshakesPerMinute'),
    maxPushBytes: number(file['maxPushBytes'], 4 * 1024 ** 3, 'maxPushBytes'),
    terminal: parseTerminalConfig(file['terminal']),
    logLevel: level as AgentConfig['logLevel'],
    metrics: metricsConfig(file['metrics']),
  };
}

/** The optional `metrics` section: `{ "intervalSeconds": 5 }`. */
function metricsConfig(value: unknown): AgentConfig['metrics'] {
  if (value === undefined) return { intervalSeconds: 5 };
  if (!isObj(value)) throw new FlotillaError('bad-config', 'metrics must be an object, as in "metrics": { "intervalSeconds": 5 }');
  const unknown = Object.keys(value).filter((k) => k !== 'intervalSeconds');
  if (unknown.length) throw new FlotillaError('bad-config', `metrics.${unknown[0]} is not a setting; the section takes intervalSeconds`);
  const interval = value['intervalSeconds'] ?? 5;
  if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 1 || interval > 60)
    throw new FlotillaError('bad-config', 'metrics.intervalSeconds must be a whole number of seconds from 1 to 60');
  return { intervalSeconds: interval };
}
