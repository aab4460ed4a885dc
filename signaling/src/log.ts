// Structured JSON-lines logging for the signaling server: one object per line with
// `ts`, `level`, `event` and the event's fields. Ids are logged in short form, tokens never.

import { shortId } from '../../shared/identity/crypto.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

/** A logger bound to one output; each method writes one line when `level` passes the minimum. */
export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options for createLogger; `write` defaults to stdout, `now` to the wall clock. */
export interface LoggerOptions {
  level?: LogLevel;
  write?: (line: string) => void;
  now?: () => Date;
}

/** True when `value` names a log level. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

/** Creates a JSON-lines logger. A field that cannot be serialised never throws: it is replaced. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => void process.stdout.write(line + '\n'));
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, event: string, fields: LogFields = {}): void => {
    if (ORDER[level] < min) return;
    const record = { ts: now().toISOString(), level, event, ...fields };
    let line: string;
    try {
      line = JSON.stringify(record, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    } catch (error) {
      // A cyclic field must not turn a log call into a crash; keep the event and say why.
      line = JSON.stringify({ ts: record.ts, level, event, logError: String(error) });
    }
    try {
      write(line);
    } catch {
      // The log sink itself failed (closed pipe): there is nowhere left to report it.
      return;
    }
  };
  return {
    debug: (event, fields) => emit('debug', event, fields),
    info: (event, fields) => emit('info', event, fields),
    warn: (event, fields) => emit('warn', event, fields),
    error: (event, fields) => emit('error', event, fields),
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Short form of a peer or fleet id for logs; anything not id-shaped is reduced to its length. */
export function short(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  return /^[a-z2-7]{52}$/.test(id) ? shortId(id) : `(${id.length} chars)`;
}

/** Error text for logs, without stack traces. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
