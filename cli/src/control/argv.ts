// Just enough of the command line for the thin client to decide whether an invocation can go to
// a control process: the command, --persist, --no-persist and --help. main.ts parses it fully.

import { CAPABILITIES } from '../../../capabilities/index.ts';
import type { CliCommandSpec } from '../../../capabilities/spec.ts';

/** Commands of the CLI itself (fleet administration, warm mode); the rest are capabilities'. */
export const CORE_COMMANDS: ReadonlySet<string> = new Set([
  'init',
  'fleet',
  'token',
  'hosts',
  'accept',
  'reject',
  'device',
  'selector',
  'remove',
  'queue',
  'history',
  'jobs',
  'alerts',
  'connect',
  'control-process',
  'serve',
  'api-token',
]);

/** Options of the CLI itself that take a value. */
const CORE_VALUE_OPTIONS = [
  'signal',
  'name',
  'ttl',
  'timeout',
  'forks',
  'role',
  'home',
  'task',
  'uses',
  'import',
  'passphrase-file',
  'persist',
  'canary',
  'batch',
  'batch-wait',
  'max-fail',
  'host',
  'since',
  'limit',
  'history-status',
  'output',
  'api',
  'rate',
  'scope',
  'param',
  'for',
  'comment',
];

/** Each capability's CLI commands, with the capability that provides them. */
export const CAPABILITY_COMMANDS: ReadonlyMap<string, { capability: string; spec: CliCommandSpec }> = new Map(
  CAPABILITIES.flatMap((c) => (c.cli ?? []).map((spec) => [spec.name, { capability: c.name, spec }] as const)),
);

/** Commands a control process serves. */
export const WARM_COMMANDS: ReadonlySet<string> = new Set([...CAPABILITY_COMMANDS.values()].filter((c) => c.spec.warm).map((c) => c.spec.name));

/** Every command main.ts dispatches (it refuses any other word); each has a code cache of its own (bin/compile-cache.js). */
export const COMMANDS: ReadonlySet<string> = new Set([...CORE_COMMANDS, ...CAPABILITY_COMMANDS.keys()]);

/** Options of main.ts that take a value (so their value is not mistaken for the command). */
export const VALUE_OPTIONS: ReadonlySet<string> = new Set([
  ...CORE_VALUE_OPTIONS,
  ...[...CAPABILITY_COMMANDS.values()].flatMap((c) =>
    Object.entries(c.spec.options ?? {})
      .filter(([, o]) => o.type === 'string')
      .map(([name]) => name),
  ),
]);

/** What the thin client needs to know about an argv. */
export interface ScannedArgv {
  command: string | undefined;
  persist: string | undefined;
  noPersist: boolean;
  help: boolean;
}

/** Scans the options before `--`; the first word that is not an option or its value is the command. */
export function scanArgv(argv: readonly string[]): ScannedArgv {
  const out: ScannedArgv = { command: undefined, persist: undefined, noPersist: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') break;
    if (word === '-h' || word === '--help') out.help = true;
    else if (word === '--no-persist') out.noPersist = true;
    else if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = word.slice(2, eq < 0 ? undefined : eq);
      const value = eq < 0 && VALUE_OPTIONS.has(name) ? argv[++i] : word.slice(eq + 1);
      if (name === 'persist') out.persist = value;
    } else if (!word.startsWith('-') && out.command === undefined) out.command = word;
  }
  return out;
}
