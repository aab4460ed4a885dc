// Reading and playing an asciicast v2 recording (capabilities/terminal/recorder.ts writes them):
// a JSON header line, then one `[seconds, code, text]` line per event. Playback writes the output
// events ("o") at their own pace, divided by a speed, with long pauses cut. Isomorphic: the CLI's
// `recordings --play` and the PWA's player share it.

import { FlotillaError } from '../../shared/wire/errors.ts';

export interface CastEvent {
  /** Seconds since the recording began. */
  t: number;
  /** Output text ("o"), or a resize ("r", as COLSxROWS). */
  kind: 'o' | 'r';
  data: string;
}

export interface Cast {
  width: number;
  height: number;
  events: CastEvent[];
  /** Event lines that were not understood (a recording cut mid-line by its size cap, say). */
  skipped: number;
}

/** Longest pause playback keeps by default: idle time in the session is cut to this. */
export const MAX_PAUSE_S = 1;

/** Parses a .cast file; a header that is not asciicast v2 is refused, unreadable event lines are counted and skipped. */
export function parseCast(text: string): Cast {
  const lines = text.split('\n');
  let header: unknown;
  try {
    header = JSON.parse(lines[0] ?? '');
  } catch {
    throw new FlotillaError('bad-message', 'recording: the first line is not an asciicast header');
  }
  const h = header as { version?: unknown; width?: unknown; height?: unknown };
  if (typeof header !== 'object' || header === null || h.version !== 2) throw new FlotillaError('bad-message', 'recording: not asciicast version 2');
  const size = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 1000 ? v : fallback);
  const events: CastEvent[] = [];
  let skipped = 0;
  for (const line of lines.slice(1)) {
    if (!line) continue;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    if (!Array.isArray(e) || typeof e[0] !== 'number' || !Number.isFinite(e[0]) || e[0] < 0 || typeof e[2] !== 'string') {
      skipped++;
      continue;
    }
    if (e[1] === 'o' || e[1] === 'r') events.push({ t: e[0], kind: e[1], data: e[2] });
  }
  return { width: size(h.width, 80), height: size(h.height, 24), events, skipped };
}

/** `COLSxROWS` of a resize event, when well formed. */
export function resizeOf(event: CastEvent): { cols: number; rows: number } | undefined {
  const m = /^(\d{1,4})x(\d{1,4})$/.exec(event.data);
  return event.kind === 'r' && m ? { cols: Number(m[1]), rows: Number(m[2]) } : undefined;
}

export interface PlayOptions {
  /** Played this many times faster; Infinity writes everything at once. */
  speed: number;
  maxPauseS?: number;
  signal?: AbortSignal;
  write(text: string): void | Promise<void>;
  resize?(size: { cols: number; rows: number }): void;
  /** Called with the recording's time (seconds) after each event. */
  progress?(t: number): void;
  /** Waits (a timer; tests and benches may pass their own). */
  sleep?(ms: number): Promise<void>;
}

/** Plays the events in order; resolves when done or aborted. */
export async function playCast(events: readonly CastEvent[], o: PlayOptions): Promise<void> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const maxPause = o.maxPauseS ?? MAX_PAUSE_S;
  let last = 0;
  for (const event of events) {
    if (o.signal?.aborted) return;
    const pause = Math.min(maxPause, Math.max(0, event.t - last)) / o.speed;
    last = event.t;
    if (pause > 0.001) await sleep(pause * 1000);
    if (o.signal?.aborted) return;
    if (event.kind === 'o') await o.write(event.data);
    else {
      const size = resizeOf(event);
      if (size) o.resize?.(size);
    }
    o.progress?.(event.t);
  }
}
