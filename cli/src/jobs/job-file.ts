// Reading an operator's job file for `flotilla jobs save`: a path (relative to the invoking
// user's directory) or `-` for stdin, JSON or YAML (JSON is YAML, so one parser reads both), into
// the fleet's job document through jobFromFile. Every error is one sentence naming the file.

import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { jobFromFile, type JobDoc } from '../../../shared/jobs/job.ts';

/** Largest job file read (a command is at most 64 KiB; the rest is small). */
export const MAX_JOB_FILE = 1024 * 1024;

/** Parses the text of a job file (JSON or YAML) into a job document; `usage` errors name `label` and the field. */
export function parseJobText(text: string, label: string, at: number): JobDoc {
  let raw: unknown;
  try {
    // uniqueKeys (the default) refuses a field given twice instead of silently keeping the last.
    raw = parse(text, { prettyErrors: true, maxAliasCount: 100 });
  } catch (error) {
    const detail = error instanceof YAMLParseError ? error.message.split('\n')[0]!.replace(/:$/, '') : error instanceof Error ? error.message : String(error);
    // `schedule: */5 * * * *` is a YAML alias and `@every 30s` starts with a reserved character.
    const hint = /alias|reserved character/i.test(detail) ? '; quote a value that starts with * or @, as in schedule: "*/5 * * * *"' : '';
    throw new FlotillaError('usage', `${label}: not a JSON or YAML job file: ${detail}${hint}`);
  }
  try {
    return jobFromFile(raw, at);
  } catch (error) {
    if (error instanceof FlotillaError && error.code === 'usage') {
      const detail = (error.detail ?? error.message).replace(/^job file: /, '');
      throw new FlotillaError('usage', `${label}: ${detail}${quoteHint(raw, detail)}`);
    }
    throw error;
  }
}

/** YAML reads `command: true` or `schedule: 0 0 * * *`-like words as booleans and numbers: say to quote them. */
function quoteHint(raw: unknown, detail: string): string {
  const field = /^([A-Za-z]+): expected a string/.exec(detail)?.[1];
  if (field === undefined || typeof raw !== 'object' || raw === null) return '';
  const value = (raw as Record<string, unknown>)[field];
  if (typeof value !== 'boolean' && typeof value !== 'number') return '';
  return ` (YAML read ${String(value)} as a ${typeof value}; quote it: ${field}: "${String(value)}")`;
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_JOB_FILE) throw new FlotillaError('usage', `standard input: a job file is at most ${MAX_JOB_FILE / 1024} KiB`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and checks a job file: `path` relative to `cwd`, or `-` for `stdin`. */
export async function readJobFile(path: string, cwd: string, at: number, stdin: NodeJS.ReadableStream = process.stdin): Promise<JobDoc> {
  if (path === '-') return parseJobText(await readStdin(stdin), 'standard input', at);
  const full = isAbsolute(path) ? path : resolve(cwd, path);
  let text: string;
  try {
    const info = await stat(full);
    if (!info.isFile()) throw new FlotillaError('usage', `${path}: not a file; give a job file (JSON or YAML) or - for standard input`);
    if (info.size > MAX_JOB_FILE) throw new FlotillaError('usage', `${path}: ${info.size} bytes; a job file is at most ${MAX_JOB_FILE / 1024} KiB`);
    text = await readFile(full, 'utf8');
  } catch (error) {
    if (error instanceof FlotillaError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : error instanceof Error ? error.message : String(error);
    throw new FlotillaError('usage', `${path}: cannot read the job file (${why})`);
  }
  return parseJobText(text, path, at);
}
