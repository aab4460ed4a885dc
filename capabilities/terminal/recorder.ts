// Recordings of terminal sessions: asciicast v2 (a JSON header line, then one [seconds, "o",
// text] line per output chunk and [seconds, "r", "COLSxROWS"] per resize) in
// <state>/recordings/<id>.cast, mode 0600, with <id>.json beside it (who, when, size). Input is
// not recorded (passwords typed at a prompt are not echoed, and so not in the output either).
// Each recording is capped; the oldest are removed when a new one would pass the total cap.

import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { MAX_RECORDINGS, RECORDING_ID, type RecordingInfo } from '../recordings/spec.ts';
import type { SessionObserver } from './session.ts';
import type { TerminalExit } from './spec.ts';

export interface RecordingLimits {
  /** Largest .cast file; output beyond it is not recorded (`truncated`). */
  maxBytes: number;
  /** All recordings together; the oldest go first. */
  maxTotalBytes: number;
  /** Most recordings kept. */
  maxCount: number;
}

/** Writes pending beyond this pause the pty until the disk has caught up. */
const BACKLOG_BYTES = 1024 * 1024;

/** The recordings directory under a state directory. */
export function recordingsDir(stateDir: string): string {
  return join(stateDir, 'recordings');
}

/** A recording's id: its start time and session id, so names sort by age. */
export function recordingId(startedAt: number, session: string): string {
  return `${new Date(startedAt)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${session}`;
}

type Meta = Omit<RecordingInfo, 'size'>;

/** Removes the oldest recordings so that one more of `maxBytes` fits (never one in `keep`). */
async function rotate(dir: string, limits: RecordingLimits, keep: ReadonlySet<string>): Promise<void> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.cast')).sort();
  const sizes = await Promise.all(
    names.map((n) =>
      stat(join(dir, n)).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  let total = sizes.reduce((a, b) => a + b, 0);
  let count = names.length;
  for (let i = 0; i < names.length && (total + limits.maxBytes > limits.maxTotalBytes || count + 1 > limits.maxCount); i++) {
    const id = names[i]!.slice(0, -'.cast'.length);
    if (keep.has(id)) continue;
    await rm(join(dir, `${id}.cast`), { force: true });
    await rm(join(dir, `${id}.json`), { force: true });
    total -= sizes[i]!;
    count--;
  }
}

const open = new Set<string>();

/** Starts recording a session; resolves with its observer and id. */
export async function startRecording(
  stateDir: string,
  limits: RecordingLimits,
  meta: Omit<Meta, 'id' | 'truncated' | 'endedAt'>,
  size: { cols: number; rows: number; term: string; shell: string },
  onError: (error: unknown) => void,
): Promise<{ id: string; observer: SessionObserver }> {
  const dir = recordingsDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const id = recordingId(meta.startedAt, meta.session);
  await rotate(dir, limits, open);
  open.add(id);
  const info: Meta = { id, ...meta, truncated: false };
  // Written beside and renamed over, so a reader (a list, while the session ends) never sees a half-written file.
  const writeMeta = () =>
    writeFile(join(dir, `${id}.json.tmp`), JSON.stringify(info) + '\n', { mode: 0o600 })
      .then(() => rename(join(dir, `${id}.json.tmp`), join(dir, `${id}.json`)))
      .catch(onError);
  await writeMeta();
  const stream: WriteStream = createWriteStream(join(dir, `${id}.cast`), { flags: 'wx', mode: 0o600 });
  stream.on('error', onError);
  const decoder = new StringDecoder('utf8');
  const t0 = performance.now();
  let written = 0;
  let ended = false;
  const idle: (() => void)[] = [];
  stream.on('drain', () => idle.forEach((f) => f()));
  const line = (text: string): void => {
    if (ended || info.truncated) return;
    const bytes = Buffer.byteLength(text) + 1;
    if (written + bytes > limits.maxBytes) {
      info.truncated = true;
      return;
    }
    written += bytes;
    stream.write(text + '\n');
  };
  const at = () => Math.round(performance.now() - t0) / 1000;
  line(
    JSON.stringify({
      version: 2,
      width: size.cols,
      height: size.rows,
      timestamp: Math.floor(meta.startedAt / 1000),
      env: { TERM: size.term, SHELL: size.shell },
      title: meta.command ?? `${meta.user} login shell`,
    }),
  );
  const observer: SessionObserver = {
    output(bytes) {
      if (ended || info.truncated) return; // nothing more is written: spare the decoding
      const text = decoder.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      if (text) line(JSON.stringify([at(), 'o', text]));
    },
    resize(cols, rows) {
      line(JSON.stringify([at(), 'r', `${cols}x${rows}`]));
    },
    ended(_exit: TerminalExit) {
      const rest = decoder.end();
      if (rest) line(JSON.stringify([at(), 'o', rest]));
      ended = true;
      info.endedAt = Date.now();
      stream.end(() => {
        open.delete(id);
        void writeMeta();
      });
    },
    get busy() {
      return !ended && stream.writableLength > BACKLOG_BYTES;
    },
    onIdle(listener) {
      idle.push(listener);
    },
  };
  return { id, observer };
}

/** The recordings under a state directory, newest first. */
export async function listRecordings(stateDir: string): Promise<RecordingInfo[]> {
  const dir = recordingsDir(stateDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const ids = names
    .filter((n) => n.endsWith('.json'))
    .map((n) => n.slice(0, -'.json'.length))
    .filter((id) => RECORDING_ID.test(id))
    .sort()
    .reverse()
    .slice(0, MAX_RECORDINGS);
  const out: RecordingInfo[] = [];
  for (const id of ids) {
    try {
      const meta = JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8')) as Meta;
      const size = (await stat(join(dir, `${id}.cast`))).size;
      out.push({ ...meta, id, size, truncated: meta.truncated === true });
    } catch {
      // Half-written or removed meanwhile: not listed.
    }
  }
  return out;
}
