// hosts-file: reads and edits /etc/hosts. Changes run one at a time; each keeps the version it
// replaced in the state directory for one undo, and undo refuses when the file has been changed
// since by someone else (it would throw their change away). The dispatcher audits each request
// with what it asked (spec.traits.audit).

import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Handler, TaskContext } from '../../agent/src/task-context.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { isObj } from '../../shared/wire/validate.ts';
import { addEntry, formatHosts, parseHosts, removeName, type HostsLine } from './hosts.ts';
import { MAX_LINES, type HostsFileRequest, type spec } from './spec.ts';
import { replaceFile, type WriteMode } from './write-file.ts';

/** The file; always this one (tests bind-mount a temp file over it in a mount namespace). */
const HOSTS = '/etc/hosts';
const MAX_BYTES = 1024 * 1024;

/** What one undo restores. */
interface UndoRecord {
  path: string;
  /** The file before the change. */
  previous: string;
  /** The file the change wrote (undo refuses if the file is no longer this). */
  written: string;
  change: string;
  at: string;
}

let queue: Promise<unknown> = Promise.resolve();

/** Runs changes one after another (two requests must not both read the old file). */
function serialized<T>(work: () => Promise<T>): Promise<T> {
  const run = queue.then(work, work);
  queue = run.catch(() => undefined);
  return run;
}

function fileError(error: unknown, doing: string): FlotillaError {
  if (error instanceof FlotillaError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new FlotillaError('file-error', `${HOSTS} does not exist on this host`);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
    return new FlotillaError('file-error', `the agent may not ${doing} ${HOSTS} (${code}; changing it needs an agent running as root)`);
  return new FlotillaError('file-error', `could not ${doing} ${HOSTS}: ${code ?? String(error)}`);
}

async function readHosts(): Promise<string> {
  let text: string;
  try {
    text = await readFile(HOSTS, 'utf8');
  } catch (error) {
    throw fileError(error, 'read');
  }
  if (text.length > MAX_BYTES) throw new FlotillaError('file-error', `${HOSTS} is larger than ${MAX_BYTES} bytes; not served`);
  return text;
}

const undoPath = (ctx: TaskContext) => join(ctx.state.dir, 'hosts-file.undo.json');

async function readUndo(ctx: TaskContext): Promise<UndoRecord | undefined> {
  let raw: string;
  try {
    raw = await readFile(undoPath(ctx), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const o: unknown = JSON.parse(raw);
    if (isObj(o) && o['path'] === HOSTS && typeof o['previous'] === 'string' && typeof o['written'] === 'string') return o as unknown as UndoRecord;
  } catch {
    // A damaged undo file offers no undo.
  }
  ctx.log('warn', 'hosts-file-undo-unreadable', { path: undoPath(ctx) });
  return undefined;
}

async function write(text: string): Promise<WriteMode> {
  try {
    return await replaceFile(HOSTS, text);
  } catch (error) {
    throw fileError(error, 'write');
  }
}

function answer(text: string, undo: boolean, extra: { change?: string; written?: WriteMode } = {}) {
  const lines: HostsLine[] = parseHosts(text);
  if (lines.length > MAX_LINES) throw new FlotillaError('file-error', `${HOSTS} has more than ${MAX_LINES} lines; not served`);
  return { status: 'ok' as const, data: { path: HOSTS, lines, undo, ...extra } };
}

async function change(request: Exclude<HostsFileRequest, { op: 'read' | 'undo' }>, ctx: TaskContext) {
  const before = await readHosts();
  // addEntry and removeName refuse with a FlotillaError (not-found, policy-refused) the dispatcher returns as is.
  const edited = request.op === 'add' ? addEntry(parseHosts(before), request.address, request.names) : removeName(parseHosts(before), request.name);
  const after = formatHosts(edited.lines);
  if (after === before) return answer(before, (await readUndo(ctx)) !== undefined, { change: 'unchanged: the file already says so' });
  const written = await write(after);
  const record: UndoRecord = { path: HOSTS, previous: before, written: after, change: edited.change, at: new Date().toISOString() };
  await writeFile(undoPath(ctx), JSON.stringify(record), { mode: 0o600 });
  ctx.log('info', 'hosts-file-changed', { change: edited.change, written, device: ctx.device.id });
  return answer(after, true, { change: edited.change, written });
}

async function undo(ctx: TaskContext) {
  const record = await readUndo(ctx);
  if (!record) throw new FlotillaError('not-found', `nothing to undo: no change to ${HOSTS} through Flotilla is kept on this host`);
  const current = await readHosts();
  if (current !== record.written)
    throw new FlotillaError('file-error', `${HOSTS} has been changed since "${record.change}"; undo would discard that change, so it is refused`);
  const written = await write(record.previous);
  await unlink(undoPath(ctx));
  const what = `undid "${record.change}"`;
  ctx.log('info', 'hosts-file-changed', { change: what, written, device: ctx.device.id });
  return answer(record.previous, false, { change: what, written });
}

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const r = request as HostsFileRequest;
  if (r.op === 'read') return answer(await readHosts(), (await readUndo(ctx)) !== undefined);
  return serialized(() => (r.op === 'undo' ? undo(ctx) : change(r, ctx)));
};
