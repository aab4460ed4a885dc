// Jobs: a command or script that agents run on a schedule whether or not a controller is connected
// (docs/jobs.md). A job is a fleet document (shared/store/documents.ts) signed by an operator or
// admin device; agents whose facts and tags match its target install it. This module is the one
// definition every side shares: the document's shape and validation, the job file an operator
// writes (JSON or YAML, most fields optional), schedules, and parameters with their substitution
// into the command. Isomorphic: it runs in the agent, the CLI, the API server and the browser.

import { Cron } from 'croner';
import { FlotillaError } from '../wire/errors.ts';
import { bool, int, isObj, obj, oneOf, optInt, optStr, str, strArray, strMap, type Obj } from '../wire/validate.ts';

/** A job name: also its record name, the journal's key and the word on the command line. */
export const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A parameter name, as `{name}` in the command and FLOTILLA_PARAM_<NAME> in the environment. */
export const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
/** Most parameters a job declares. */
export const MAX_PARAMS = 32;
/** Longest value a string parameter takes. */
export const MAX_PARAM_VALUE = 4096;
/** Longest command or script. */
export const MAX_COMMAND = 64 * 1024;

export const OVERLAPS = ['skip', 'queue', 'replace'] as const;
/** What happens when a run is due while the previous one still runs: skip it (the default, as op-agent), queue it (one waits), or kill the running one. */
export type Overlap = (typeof OVERLAPS)[number];

export const PARAM_TYPES = ['string', 'int', 'bool', 'enum'] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

export interface JobParam {
  name: string;
  type: ParamType;
  required: boolean;
  /** Used when an invocation (or a scheduled run) gives no value. */
  default?: string;
  /** A regular expression the whole value must match (string parameters). */
  pattern?: string;
  /** The allowed values of an enum. */
  values?: string[];
  description?: string;
}

export interface JobPolicy {
  /** Seconds before the whole process group is killed; 0: no limit. */
  timeoutSec: number;
  overlap: Overlap;
  /** A random delay of up to this many seconds before each scheduled run (Salt's splay, systemd's RandomizedDelaySec). */
  splaySec: number;
  /**
   * After the agent was down over a scheduled time, the missed run runs once at start when it is
   * at most this many seconds old (systemd's Persistent=, CronJob's startingDeadlineSeconds); 0: never.
   */
  catchUpSec: number;
  /** Runs again after a failure, up to this many times, waiting retryBackoffSec × 2^attempt. */
  retries: number;
  retryBackoffSec: number;
  cwd?: string;
  env?: Record<string, string>;
  /** The user to run as, within the agent's policy (run-as ceiling). */
  runAs?: string;
  /** Runs kept in the agent's job journal per job: by count and by age. */
  keepRuns: number;
  keepDays: number;
}

/** The fleet document of a job (PLACEMENT.job: a `doc` record for the whole fleet, named by the job's name). */
export interface JobDoc {
  type: 'job';
  name: string;
  description?: string;
  /** A shell command line (`sh -c`), or with `interpreter` a script given to it on stdin. */
  command: string;
  /** `sh`, `bash`, `python3`…: the command is a script for it. Absent: `sh -c command`. */
  interpreter?: string;
  /** The selector of the hosts that install the job (the whole grammar: names, tags, `!` exclusions). */
  target: string;
  /** `*\/5 * * * * *` (5 to 7 fields, seconds and year optional), `@every 30s`, an ISO time, `once` or `manual`. */
  schedule: string;
  /** An IANA time zone for cron schedules; absent: the host's. */
  timezone?: string;
  params: JobParam[];
  policy: JobPolicy;
  enabled: boolean;
  /** A tombstone: agents uninstall the job. */
  deleted: boolean;
  at: number;
}

export const DEFAULT_POLICY: JobPolicy = {
  timeoutSec: 3600,
  overlap: 'skip',
  splaySec: 0,
  catchUpSec: 0,
  retries: 0,
  retryBackoffSec: 10,
  keepRuns: 100,
  keepDays: 30,
};

// ---- schedules ---------------------------------------------------------------------------------

export type Schedule =
  | { kind: 'cron'; expr: string }
  | { kind: 'every'; ms: number }
  | { kind: 'at'; time: number }
  /** Exactly once per host (op-agent's OnceJob): the agent's journal remembers it across restarts. */
  | { kind: 'once' }
  /** Never by itself: only when invoked (the job API, `flotilla jobs run`). */
  | { kind: 'manual' };

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function usage(detail: string): never {
  throw new FlotillaError('usage', detail);
}

/** Parses and checks a schedule (a cron pattern through croner); `usage` errors say what is wrong. */
export function parseSchedule(text: string, timezone?: string): Schedule {
  const s = text.trim();
  if (s === 'once' || s === 'manual') return { kind: s };
  const every = /^@every\s+(.+)$/.exec(s);
  if (every) {
    const parts = [...every[1]!.matchAll(/(\d+)\s*(ms|s|m|h|d)/g)];
    const joined = parts.map((p) => p[0]).join('');
    if (parts.length === 0 || joined !== every[1]!.replace(/\s+/g, '')) usage(`schedule ${JSON.stringify(s)}: @every takes a duration such as 30s, 5m, 1h30m`);
    const ms = parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0);
    if (ms < 1000) usage(`schedule ${JSON.stringify(s)}: @every is at least 1s`);
    if (ms > 366 * 86_400_000) usage(`schedule ${JSON.stringify(s)}: @every is at most 366d`);
    return { kind: 'every', ms };
  }
  if (/^\d{4}-\d{2}-\d{2}T/.test(s)) {
    const time = Date.parse(s);
    if (!Number.isFinite(time)) usage(`schedule ${JSON.stringify(s)}: not a valid ISO time`);
    return { kind: 'at', time };
  }
  const fields = s.split(/\s+/).length;
  if (!s.startsWith('@') && (fields < 5 || fields > 7))
    usage(`schedule ${JSON.stringify(s)}: a cron pattern has 5 to 7 fields (seconds and year optional), or use @every 30s, an ISO time, once or manual`);
  try {
    new Cron(s, { paused: true, ...(timezone ? { timezone } : {}) });
  } catch (error) {
    usage(`schedule ${JSON.stringify(s)}: ${error instanceof Error ? error.message : 'not a cron pattern'}`);
  }
  return { kind: 'cron', expr: s };
}

/** Checks an IANA time zone name. */
export function checkTimezone(zone: string): void {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
  } catch {
    usage(`timezone ${JSON.stringify(zone)}: not a time zone this runtime knows (an IANA name such as Europe/Berlin)`);
  }
}

/**
 * The next `count` times (ms) a schedule fires after `from`. `every` counts from `anchor` (when the
 * agent installed the job), `once` and `manual` have none. The agent's scheduler, the CLI's `jobs
 * show` and the PWA's schedule helper all use this.
 */
export function nextRuns(schedule: Schedule, from: number, count: number, timezone?: string, anchor = from): number[] {
  switch (schedule.kind) {
    case 'cron': {
      const cron = new Cron(schedule.expr, { paused: true, ...(timezone ? { timezone } : {}) });
      return cron.nextRuns(count, new Date(from)).map((d) => d.getTime());
    }
    case 'every': {
      const first = from < anchor ? anchor : anchor + (Math.floor((from - anchor) / schedule.ms) + 1) * schedule.ms;
      return Array.from({ length: count }, (_, i) => first + i * schedule.ms);
    }
    case 'at':
      return schedule.time > from && count > 0 ? [schedule.time] : [];
    default:
      return [];
  }
}

// ---- parameters --------------------------------------------------------------------------------

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash']);

/** True when the command is a shell line and may carry `{param}` placeholders. */
export function isShellCommand(job: Pick<JobDoc, 'interpreter'>): boolean {
  return job.interpreter === undefined || SHELLS.has(job.interpreter.split('/').pop() ?? '');
}

/** `'…'` quoting for a POSIX shell: everything inside is literal, a `'` is closed, escaped and reopened. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

interface Placeholder {
  name: string;
  start: number;
  end: number;
  /** The quoting in force where it stands. */
  context: 'plain' | 'single' | 'double' | 'backtick';
}

/**
 * Finds the `{name}` placeholders of declared parameters in a shell line, with the quoting each
 * stands in. `${name}` (a shell variable) is not a placeholder. A small lexer of quotes and
 * backslashes: enough to know whether a substituted value would be re-read by the shell.
 */
function placeholders(command: string, names: ReadonlySet<string>): Placeholder[] {
  const found: Placeholder[] = [];
  let context: Placeholder['context'] = 'plain';
  for (let i = 0; i < command.length; i++) {
    const c = command[i];
    if (context === 'single') {
      if (c === "'") context = 'plain';
    } else if (c === '\\') {
      i++; // the next character is escaped (outside single quotes)
      continue;
    } else if (context === 'double') {
      if (c === '"') context = 'plain';
    } else if (context === 'backtick') {
      if (c === '`') context = 'plain';
    } else if (c === "'") context = 'single';
    else if (c === '"') context = 'double';
    else if (c === '`') context = 'backtick';
    if (c === '{' && command[i - 1] !== '$') {
      const m = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(command.slice(i, i + 40));
      if (m && names.has(m[1]!)) found.push({ name: m[1]!, start: i, end: i + m[0].length, context });
    }
  }
  return found;
}

/**
 * Checks where a job's placeholders stand: inside double quotes, backticks or a here-document the
 * shell would expand `$(…)` in the value, so those are refused when the job is saved. Scripts for
 * other interpreters get their values from the environment only.
 */
export function checkPlaceholders(job: Pick<JobDoc, 'command' | 'interpreter' | 'params'>): void {
  const names = new Set(job.params.map((p) => p.name));
  if (!isShellCommand(job)) {
    const any = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
    for (const m of job.command.matchAll(any))
      if (names.has(m[1]!) && job.command[m.index - 1] !== '$')
        usage(
          `command: {${m[1]}} in a ${job.interpreter} script: only shell commands take placeholders; read the value from the environment (FLOTILLA_PARAM_${m[1]!.toUpperCase()})`,
        );
    return;
  }
  const found = placeholders(job.command, names);
  if (found.length > 0 && /<</.test(job.command))
    usage(
      `command: {${found[0]!.name}} in a command with a here-document: the shell would expand the value there; use "$FLOTILLA_PARAM_${found[0]!.name.toUpperCase()}"`,
    );
  for (const p of found)
    if (p.context === 'double' || p.context === 'backtick')
      usage(
        `command: {${p.name}} inside ${p.context === 'double' ? 'double quotes' : 'backticks'}: write it bare (Flotilla quotes the value) or use "$FLOTILLA_PARAM_${p.name.toUpperCase()}"`,
      );
}

function badParam(name: string, what: string): never {
  throw new FlotillaError('usage', `parameter ${name}: ${what}`);
}

/** Validates one value against its declaration and returns its canonical text. */
export function checkParamValue(p: JobParam, raw: string | number | boolean): string {
  const value = typeof raw === 'string' ? raw : String(raw);
  if (value.length > MAX_PARAM_VALUE) badParam(p.name, `longer than ${MAX_PARAM_VALUE} characters`);
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) badParam(p.name, 'control characters (newlines included) are not allowed in a value');
  switch (p.type) {
    case 'int':
      if (!/^-?\d{1,15}$/.test(value)) badParam(p.name, `${JSON.stringify(value.slice(0, 40))} is not an integer`);
      return String(Number(value));
    case 'bool': {
      const v = value.toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(v)) return 'true';
      if (['false', 'no', '0', 'off'].includes(v)) return 'false';
      return badParam(p.name, `${JSON.stringify(value.slice(0, 40))} is not true or false`);
    }
    case 'enum':
      if (!p.values?.includes(value)) badParam(p.name, `${JSON.stringify(value.slice(0, 40))} is not one of ${(p.values ?? []).join(', ')}`);
      return value;
    default:
      if (p.pattern !== undefined && !new RegExp(`^(?:${p.pattern})$`, 'u').test(value))
        badParam(p.name, `${JSON.stringify(value.slice(0, 40))} does not match the pattern ${p.pattern}`);
      return value;
  }
}

/** The values a run gets: given ones checked, defaults filled in, missing required ones refused, unknown names refused. */
export function resolveParams(job: Pick<JobDoc, 'params'>, given: Record<string, string | number | boolean> = {}): Record<string, string> {
  const declared = new Map(job.params.map((p) => [p.name, p]));
  for (const name of Object.keys(given))
    if (!declared.has(name)) badParam(name, `the job declares no such parameter (it has: ${[...declared.keys()].join(', ') || 'none'})`);
  const out: Record<string, string> = {};
  for (const p of job.params) {
    const v = given[p.name] ?? p.default;
    if (v === undefined) {
      if (p.required) badParam(p.name, 'required, and no value was given');
      continue;
    }
    out[p.name] = checkParamValue(p, v);
  }
  return out;
}

/**
 * What a run executes: the command with each placeholder replaced by its value shell-quoted (a
 * missing optional value becomes ''), and every value also in the environment as
 * FLOTILLA_PARAM_<NAME>. A value never reaches the shell unquoted: `; rm -rf /`, `$(…)`, backticks
 * and quotes arrive as literal text.
 */
export function renderCommand(
  job: Pick<JobDoc, 'command' | 'interpreter' | 'params'>,
  values: Record<string, string>,
): { command: string; env: Record<string, string> } {
  checkPlaceholders(job);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) env[`FLOTILLA_PARAM_${k.toUpperCase()}`] = v;
  if (!isShellCommand(job)) return { command: job.command, env };
  let out = '';
  let at = 0;
  for (const p of placeholders(job.command, new Set(job.params.map((x) => x.name)))) {
    const quoted = shellQuote(values[p.name] ?? '');
    out += job.command.slice(at, p.start) + (p.context === 'single' ? `'${quoted}'` : quoted);
    at = p.end;
  }
  return { command: out + job.command.slice(at), env };
}

// ---- the document and the job file -----------------------------------------------------------

function parseParam(raw: unknown, i: number): JobParam {
  const o = obj(raw, `params[${i}]`);
  const name = str(o, 'name', 32, 1);
  if (!PARAM_NAME.test(name)) badParam(name, 'a name is letters, digits and _, not starting with a digit');
  const type = o['type'] === undefined ? 'string' : oneOf(o, 'type', PARAM_TYPES);
  const p: JobParam = { name, type, required: o['required'] === undefined ? false : bool(o, 'required') };
  if (o['description'] !== undefined) p.description = str(o, 'description', 512);
  if (o['values'] !== undefined) p.values = strArray(o, 'values', 256, 256);
  if (type === 'enum' && !p.values?.length) badParam(name, 'an enum needs values');
  if (o['pattern'] !== undefined) {
    p.pattern = str(o, 'pattern', 256, 1);
    try {
      new RegExp(`^(?:${p.pattern})$`, 'u');
    } catch {
      badParam(name, `pattern ${JSON.stringify(p.pattern)} is not a regular expression`);
    }
  }
  if (o['default'] !== undefined) {
    const d = o['default'];
    if (typeof d !== 'string' && typeof d !== 'number' && typeof d !== 'boolean') badParam(name, 'default: expected a string, number or boolean');
    p.default = checkParamValue(p, d);
  }
  return p;
}

function parsePolicy(raw: unknown): JobPolicy {
  const o = raw === undefined ? {} : obj(raw, 'policy');
  const d = DEFAULT_POLICY;
  const num = (key: keyof JobPolicy, max: number, def: number) => optInt(o, key, 0, max) ?? def;
  const cwd = optStr(o, 'cwd', 4096);
  const runAs = optStr(o, 'runAs', 64);
  return {
    timeoutSec: num('timeoutSec', 30 * 86_400, d.timeoutSec),
    overlap: o['overlap'] === undefined ? d.overlap : oneOf(o, 'overlap', OVERLAPS),
    splaySec: num('splaySec', 86_400, d.splaySec),
    catchUpSec: num('catchUpSec', 366 * 86_400, d.catchUpSec),
    retries: num('retries', 10, d.retries),
    retryBackoffSec: num('retryBackoffSec', 86_400, d.retryBackoffSec),
    ...(cwd === undefined ? {} : { cwd }),
    ...(o['env'] === undefined ? {} : { env: strMap(o, 'env', 64, 4096) }),
    ...(runAs === undefined ? {} : { runAs }),
    keepRuns: optInt(o, 'keepRuns', 1, 10_000) ?? d.keepRuns,
    keepDays: optInt(o, 'keepDays', 1, 3650) ?? d.keepDays,
  };
}

/** Checks what a document and a job file have in common; `usage` errors name the field. */
function parseBody(o: Obj): Omit<JobDoc, 'type' | 'at' | 'deleted'> {
  const name = str(o, 'name', 64, 1);
  if (!JOB_NAME.test(name)) usage(`name ${JSON.stringify(name)}: letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit`);
  const description = optStr(o, 'description', 1024);
  const interpreter = optStr(o, 'interpreter', 256);
  if (interpreter !== undefined && !/^[A-Za-z0-9_./+-]+$/.test(interpreter))
    usage(`interpreter ${JSON.stringify(interpreter)}: one program name or path, no arguments`);
  const timezone = optStr(o, 'timezone', 64);
  if (timezone !== undefined) checkTimezone(timezone);
  const rawParams = o['params'] ?? [];
  if (!Array.isArray(rawParams) || rawParams.length > MAX_PARAMS) usage(`params: expected a list of at most ${MAX_PARAMS} parameters`);
  const params = rawParams.map(parseParam);
  const seen = new Set<string>();
  for (const p of params) {
    if (seen.has(p.name)) badParam(p.name, 'declared twice');
    seen.add(p.name);
  }
  const body = {
    name,
    ...(description === undefined ? {} : { description }),
    command: str(o, 'command', MAX_COMMAND, 1),
    ...(interpreter === undefined ? {} : { interpreter }),
    target: str(o, 'target', 4096, 1),
    schedule: str(o, 'schedule', 256, 1),
    ...(timezone === undefined ? {} : { timezone }),
    params,
    policy: parsePolicy(o['policy']),
    enabled: o['enabled'] === undefined ? true : bool(o, 'enabled'),
  };
  parseSchedule(body.schedule, body.timezone);
  checkPlaceholders(body);
  return body;
}

function asUsage<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (error) {
    if (error instanceof FlotillaError && error.code === 'usage') throw error;
    if (error instanceof FlotillaError) throw new FlotillaError('usage', `${what}: ${error.detail ?? error.message}`);
    throw error;
  }
}

/**
 * Reads a job file an operator wrote (already parsed from JSON or YAML): `name`, `command`,
 * `target` and `schedule` required, the rest defaulted (DEFAULT_POLICY, enabled). Policy fields
 * may also stand at the top level (`timeoutSec: 60`, `overlap: queue`). Errors name the field.
 */
export function jobFromFile(raw: unknown, at: number): JobDoc {
  return asUsage('job file', () => {
    if (!isObj(raw)) usage('job file: expected an object with at least name, command, target and schedule');
    const policyKeys = Object.keys(DEFAULT_POLICY).concat(['cwd', 'env', 'runAs']);
    const top = Object.fromEntries(Object.entries(raw).filter(([k]) => policyKeys.includes(k)));
    const policy = { ...top, ...(isObj(raw['policy']) ? raw['policy'] : {}) };
    const known = new Set(['name', 'description', 'command', 'interpreter', 'target', 'schedule', 'timezone', 'params', 'policy', 'enabled', ...policyKeys]);
    for (const k of Object.keys(raw)) if (!known.has(k)) usage(`job file: unknown field ${JSON.stringify(k)} (known: ${[...known].join(', ')})`);
    return { type: 'job', ...parseBody({ ...raw, policy }), deleted: false, at };
  });
}

/** Validates an opened job document (a `bad-message` naming the field; the store turns it into `bad-record`). */
export function parseJobDoc(o: Obj): JobDoc {
  try {
    return { type: 'job', ...parseBody(o), deleted: bool(o, 'deleted'), at: int(o, 'at') };
  } catch (error) {
    if (error instanceof FlotillaError && error.code === 'usage') throw new FlotillaError('bad-message', error.detail);
    throw error;
  }
}

/** The job file form of a document (what `jobs show --json` prints and `jobs save` reads back). */
export function jobToFile(job: JobDoc): Obj {
  const { type: _type, at: _at, deleted: _deleted, ...rest } = job;
  return rest as unknown as Obj;
}
