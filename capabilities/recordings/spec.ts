// recordings: terminal sessions recorded on the host in asciicast v2 (capabilities/terminal):
// list them (`action: list`), and fetch one (`action: get, recording: <id>`), streamed as `recording.chunk` events (the .cast file's bytes).
// Listing needs operator; fetching what someone typed and saw needs admin.
import { defineCapability } from '../spec.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { bool, int, isObj, oneOf, optional, optStr, str, type Obj } from '../../shared/wire/validate.ts';
import { SESSION_ID_MAX } from '../terminal/spec.ts';

/** Most recordings one list carries (the newest first). */
export const MAX_RECORDINGS = 500;
/** A recording id: the file's name without `.cast` (letters, digits, dash, dot, underscore). */
export const RECORDING_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** One recording. */
export interface RecordingInfo {
  id: string;
  /** The terminal session it recorded. */
  session: string;
  device: string;
  deviceName?: string;
  user: string;
  command?: string;
  /** ms since the epoch. */
  startedAt: number;
  /** Absent while the session runs. */
  endedAt?: number;
  /** Size of the .cast file in bytes. */
  size: number;
  /** The size cap cut the recording short. */
  truncated: boolean;
}

export type RecordingsRequest = { action: 'list' } | { action: 'get'; recording: string };
export type RecordingsResult = { kind: 'list'; recordings: RecordingInfo[] } | { kind: 'get'; recording: string; size: number };

function recordingId(o: Obj, key = 'id'): string {
  const id = str(o, key, 128, 1);
  if (!RECORDING_ID.test(id)) throw new FlotillaError('bad-message', `${key}: letters, digits, dot, dash or underscore`);
  return id;
}

function parseRecording(raw: unknown, i: number): RecordingInfo {
  if (!isObj(raw)) throw new FlotillaError('bad-message', `recordings[${i}]: expected an object`);
  return {
    id: recordingId(raw),
    session: str(raw, 'session', SESSION_ID_MAX, 1),
    device: str(raw, 'device', 128),
    ...optional('deviceName', optStr(raw, 'deviceName', 256)),
    user: str(raw, 'user', 64),
    ...optional('command', optStr(raw, 'command', 4096)),
    startedAt: int(raw, 'startedAt', 0),
    ...optional('endedAt', raw['endedAt'] === undefined ? undefined : int(raw, 'endedAt', 0)),
    size: int(raw, 'size', 0),
    truncated: bool(raw, 'truncated'),
  };
}

export const spec = defineCapability({
  name: 'recordings',
  doc: 'list the recorded terminal sessions (asciicast v2, capped and rotated), or fetch one as recording.chunk events',
  request: {
    type: 'recordings',
    parse: (o): RecordingsRequest =>
      oneOf(o, 'action', ['list', 'get'] as const) === 'list' ? { action: 'list' } : { action: 'get', recording: recordingId(o, 'recording') },
  },
  events: {
    /** Bytes of the .cast file (the body) starting at `offset`. */
    'recording.chunk': (o) => ({ offset: int(o, 'offset', 0) }),
  },
  result: (d): RecordingsResult => {
    if (oneOf(d, 'kind', ['list', 'get'] as const) === 'get') return { kind: 'get', recording: recordingId(d, 'recording'), size: int(d, 'size', 0) };
    const list = d['recordings'];
    if (!Array.isArray(list) || list.length > MAX_RECORDINGS)
      throw new FlotillaError('bad-message', `recordings: expected a list of at most ${MAX_RECORDINGS}`);
    return { kind: 'list', recordings: list.map(parseRecording) };
  },
  role: (r) => (r.action === 'get' ? 'admin' : 'operator'),
  traits: { audit: (r) => (r.action === 'get' ? `get ${r.recording}` : 'list') },
  cli: [
    {
      name: 'recordings',
      usage: [
        'recordings <host> [--play ID] [--speed 2] [--raw]',
        '(lists the recorded terminal sessions; --play shows one in this terminal, --raw prints its .cast file)',
      ],
      options: { play: { type: 'string' }, speed: { type: 'string' }, raw: { type: 'boolean' } },
    },
  ],
  web: { hostTab: { label: 'Recordings', order: 6 } },
});
