// The operations a controller runs on one host (ping, exec, push, fetch), each reduced to a
// HostResult with the closed status union, whatever went wrong on the way.

import { FlotillaError, toWireError, type WireError } from '../wire/errors.ts';
import { createSha256 } from '../wire/sha256-stream.ts';
import { call, newRequestId, type RequestOptions, type TypedResult } from './agent-connection.ts';
import * as capabilities from '../../capabilities/registry.ts';
import type { AnySpec, DataOf, RequestOf } from '../../capabilities/spec.ts';
import type { Controller } from './controller.ts';
import type { ResultStatus } from '../wire/protocol.ts';
import { statusOfError } from './task-pipeline.ts';
import type { PathInfo } from '../session/transport.ts';

/** One host's outcome of a task; `data` is the capability's typed result. */
export interface HostResult<D extends object = Record<string, unknown>> {
  hostId: string;
  status: ResultStatus;
  exitCode?: number;
  error?: WireError;
  durationMs: number;
  data?: D;
}

/** Makes a task id; the same id is used on every host of one task. */
export function newTaskId(): string {
  return `t${Date.now().toString(36)}-${newRequestId().slice(0, 10)}`;
}

function fromResult<S extends AnySpec>(hostId: string, result: TypedResult<S>, started: number): HostResult<DataOf<S>> {
  return {
    hostId,
    status: result.status,
    ...(result.exitCode === undefined ? {} : { exitCode: result.exitCode }),
    ...(result.error ? { error: result.error } : {}),
    ...(result.data ? { data: result.data } : {}),
    durationMs: result.durationMs ?? Math.round(performance.now() - started),
  };
}

function failed<D extends object>(hostId: string, error: unknown, started: number, connected: boolean): HostResult<D> {
  return { hostId, status: statusOfError(error, connected), error: toWireError(error), durationMs: Math.round(performance.now() - started) };
}

async function guarded<D extends object>(hostId: string, controller: Controller, body: (started: number) => Promise<HostResult<D>>): Promise<HostResult<D>> {
  const started = performance.now();
  let connected = false;
  try {
    await controller.connect(hostId);
    connected = true;
    return await body(started);
  } catch (error) {
    return failed<D>(hostId, error, started, connected);
  }
}

/** Round trip to a host's agent through the secure session. */
export function pingHost(controller: Controller, hostId: string): Promise<HostResult<PingData>> {
  return guarded(hostId, controller, async () => {
    const connection = await controller.connect(hostId);
    const t0 = performance.now();
    const result = await call(connection, capabilities.ping, {});
    const rttMs = performance.now() - t0;
    const { data: _agentTime, ...rest } = fromResult(hostId, result, t0);
    return { ...rest, durationMs: Math.round(rttMs), data: { rttMs, path: (await connection.path()) ?? null } };
  });
}

/** What a ping measured: the round trip through the session and the connection's path. */
export interface PingData {
  rttMs: number;
  path: PathInfo | null;
}

/** What to run. */
export interface ExecSpec {
  task: string;
  cmd: string;
  timeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string;
  user?: string;
}

/**
 * Output an exec may have in flight to this controller before the agent waits for an
 * acknowledgement (docs/protocol.md, "Output flow control"); acknowledged every quarter.
 */
export const OUTPUT_WINDOW = 1024 * 1024;

/** How long a controller keeps trying to reattach to a running command after its connection dropped. */
export const REATTACH_WINDOW_MS = 60_000;

/** Options for execOnHost beyond the command. */
export interface ExecOptions {
  signal?: AbortSignal;
  /** Give up reattaching this long after the connection dropped (default REATTACH_WINDOW_MS; 0: never reattach). */
  reattachWindowMs?: number;
  /** Told what happens to the connection while the command runs, for the user. */
  onNote?: (note: string) => void;
}

function connectionLost(error: unknown): boolean {
  return error instanceof FlotillaError && (error.code === 'channel-closed' || error.code === 'unreachable');
}

/**
 * Runs a command, streaming its output to `onOutput` as it arrives. If the connection drops
 * while it runs (a network change, an agent's NAT mapping gone), the controller connects again
 * and reattaches to the task by id: it gets the output it missed and the result; the command
 * itself never stops for it.
 */
export function execOnHost(
  controller: Controller,
  hostId: string,
  spec: ExecSpec,
  onOutput: (stream: 'stdout' | 'stderr', bytes: Uint8Array) => void | Promise<void>,
  signalOrOptions?: AbortSignal | ExecOptions,
): Promise<HostResult<DataOf<typeof capabilities.exec>>> {
  const options: ExecOptions = signalOrOptions instanceof AbortSignal ? { signal: signalOrOptions } : (signalOrOptions ?? {});
  const { signal } = options;
  const window = options.reattachWindowMs ?? REATTACH_WINDOW_MS;
  return guarded(hostId, controller, async (started) => {
    const seen = { stdout: 0, stderr: 0 };
    const deliver = (stream: 'stdout' | 'stderr', bytes: Uint8Array) => {
      seen[stream] += bytes.length;
      return onOutput(stream, bytes);
    };
    let attach: { stdout: number; stderr: number } | undefined;
    let lostAt = 0;
    for (let attempt = 0; ; attempt++) {
      let result: TypedResult<typeof capabilities.exec>;
      try {
        const connection = await controller.connect(hostId);
        const acks = createAcker((bytes, id) => connection.send({ type: 'output.ack', id, bytes }));
        result = await call(
          connection,
          capabilities.exec,
          { ...spec, ...(attach ? { attach } : {}), window: OUTPUT_WINDOW },
          {
            onEvent: (event, body) => {
              if (event.type !== 'output') return;
              const taken = deliver(event.stream, body);
              // An agent that sets `window` waits for acknowledgements: given once the bytes are taken.
              if (event.window !== undefined) void Promise.resolve(taken).then(() => acks.consumed(body.length));
            },
            onSent: acks.setId,
            ...(signal ? { signal } : {}),
          },
        );
      } catch (error) {
        if (!connectionLost(error) || signal?.aborted || window <= 0) throw error;
        if (!attach) {
          lostAt = performance.now();
          options.onNote?.(`connection lost while the command runs; reconnecting (up to ${Math.round(window / 1000)} s) to collect its result`);
        }
        if (performance.now() - lostAt > window) throw error;
        attach = { ...seen };
        await pause(Math.min(500 * 2 ** attempt, 5_000), signal);
        continue;
      }
      // A re-sent task id answers from the journal: its recorded output comes as output events
      // before the result; agents before that carried it in the result (after a reattach, only
      // what had not arrived).
      if (result.replay?.replayed) {
        const enc = new TextEncoder();
        if (result.replay.stdout) await deliver('stdout', enc.encode(result.replay.stdout));
        if (result.replay.stderr) await deliver('stderr', enc.encode(result.replay.stderr));
      }
      if (attach)
        options.onNote?.(
          `reconnected and collected the result${result.replay?.lostBytes ? ` (${result.replay.lostBytes} bytes of output were no longer kept)` : ''}`,
        );
      return fromResult(hostId, result, started);
    }
  });
}

/** Acknowledges consumed output to the agent, a quarter of the window at a time. */
function createAcker(send: (bytes: number, id: string) => Promise<void>) {
  let id: string | undefined;
  let consumed = 0;
  let acked = 0;
  const flush = () => {
    if (id === undefined || consumed - acked < OUTPUT_WINDOW / 4) return;
    acked = consumed;
    send(consumed, id).catch(() => undefined); // a closed connection ends the request anyway
  };
  return {
    setId(requestId: string) {
      id = requestId;
      flush();
    },
    consumed(bytes: number) {
      consumed += bytes;
      flush();
    },
  };
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A file to push, readable in pieces (from disk in Node, a File in the browser). */
export interface PushSource {
  size: number;
  sha256: string;
  mode: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

const PUSH_CHUNK = 256 * 1024;

/** Computes a PushSource's sha256 by reading it through once. */
export async function hashSource(size: number, read: (offset: number, length: number) => Promise<Uint8Array>): Promise<string> {
  const hash = createSha256();
  for (let offset = 0; offset < size; offset += PUSH_CHUNK) hash.update(await read(offset, Math.min(PUSH_CHUNK, size - offset)));
  return hash.hex();
}

/** Pushes a file to `path` on a host; `onProgress` gets bytes sent. */
export function pushToHost(
  controller: Controller,
  hostId: string,
  task: string,
  path: string,
  source: PushSource,
  onProgress?: (bytes: number, total: number) => void,
  signal?: AbortSignal,
): Promise<HostResult<DataOf<typeof capabilities.push>>> {
  return guarded(hostId, controller, async (started) => {
    const connection = await controller.connect(hostId);
    let markSent: (id: string) => void = () => undefined;
    const sent = new Promise<string>((resolve) => (markSent = resolve));
    let settled = false;
    const outcome = call(
      connection,
      capabilities.push,
      { task, path, size: source.size, sha256: source.sha256, mode: source.mode },
      { onSent: markSent, ...(signal ? { signal } : {}) },
    );
    const ended = outcome.then(
      () => void (settled = true),
      () => void (settled = true),
    );
    // Stream right after the request; stop early if the agent already answered (e.g. refused the path).
    const requestId = await Promise.race([sent, ended]);
    if (requestId) {
      // An abort sends `cancel` for the request (agent-connection); stop streaming as well.
      for (let offset = 0; offset < source.size && !settled && !signal?.aborted; offset += PUSH_CHUNK) {
        const piece = await source.read(offset, Math.min(PUSH_CHUNK, source.size - offset));
        await connection.send({ type: 'push.chunk', id: requestId, offset }, piece);
        onProgress?.(offset + piece.length, source.size);
      }
      if (!settled && !signal?.aborted) await connection.send({ type: 'push.end', id: requestId });
    }
    return fromResult(hostId, await outcome, started);
  });
}

/** Fetches a file from a host; `onChunk` receives its bytes in order. Verifies sha256. */
export function fetchFromHost(
  controller: Controller,
  hostId: string,
  task: string,
  path: string,
  onChunk: (offset: number, bytes: Uint8Array) => void | Promise<void>,
  onProgress?: (bytes: number, total: number) => void,
  signal?: AbortSignal,
): Promise<HostResult<DataOf<typeof capabilities.fetch>>> {
  return guarded(hostId, controller, async (started) => {
    const connection = await controller.connect(hostId);
    const hash = createSha256();
    let received = 0;
    let total = 0;
    let writes: Promise<void> = Promise.resolve();
    const result = await call(
      connection,
      capabilities.fetch,
      { task, path },
      {
        onEvent: (event, body) => {
          if (event.type === 'progress') total = event.total;
          if (event.type !== 'fetch.chunk') return;
          const copy = new Uint8Array(body);
          hash.update(copy);
          received += copy.length;
          onProgress?.(received, total);
          writes = writes.then(() => onChunk(event.offset, copy));
        },
        ...(signal ? { signal } : {}),
      },
    );
    await writes;
    if (result.status === 'ok' && result.data?.sha256 !== hash.hex()) {
      throw new FlotillaError('checksum-mismatch', `received ${received} bytes whose sha256 differs from the host's`);
    }
    return fromResult(hostId, result, started);
  });
}

/** Sends one capability request to a host and reduces the outcome to a HostResult (any capability). */
export function callOnHost<S extends AnySpec>(
  controller: Controller,
  hostId: string,
  spec: S,
  body: RequestOf<S>,
  options?: RequestOptions,
): Promise<HostResult<DataOf<S>>> {
  return guarded(hostId, controller, async (started) => fromResult(hostId, await call(await controller.connect(hostId), spec, body, options), started));
}
