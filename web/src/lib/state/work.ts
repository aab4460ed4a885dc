// What the composer's four modes do on each host, built on the controller core's operations
// (the same execOnHost, pushToHost and fetchFromHost the CLI uses): a command, a script on
// stdin with arguments, files pushed from the browser, a file fetched into a download.

import { execOnHost, fetchFromHost, hashSource, pushToHost, type HostResult, type PushSource } from '../../../../shared/controller/operations.ts';
import { FlotillaError } from '../../../../shared/wire/errors.ts';
import { bytes } from '../format.ts';
import { scriptCommand, shellQuote } from '../shell.ts';
import type { TaskSpec } from './task-run.svelte.ts';

/** Largest script sent (the exec request's stdin limit). */
export const MAX_SCRIPT_BYTES = 1024 * 1024;

/** A command line, run by /bin/sh on each host. */
export function commandSpec(cmd: string, timeoutMs?: number): TaskSpec {
  return {
    kind: 'exec',
    command: cmd,
    // For hosts offline now (the composer's "Queue for offline hosts"): the exec request (TaskRun adds the task id).
    queued: { type: 'exec', cmd, ...(timeoutMs ? { timeoutMs } : {}) },
    work: (host, { controller, task, signal }) =>
      execOnHost(controller, host.hostId, { task, cmd, ...(timeoutMs ? { timeoutMs } : {}) }, (stream, chunk) => host.append(stream, chunk), signal),
  };
}

/** A script handed to the host on stdin, with arguments; `name` says where it came from. */
export function scriptSpec(script: string, args: readonly string[], name: string, timeoutMs?: number): TaskSpec {
  if (new TextEncoder().encode(script).length > MAX_SCRIPT_BYTES) throw new FlotillaError('too-large', `scripts are limited to ${bytes(MAX_SCRIPT_BYTES)}`);
  const cmd = scriptCommand(script, args);
  return {
    kind: 'script',
    command: `script ${name}${args.length ? ` ${args.map(shellQuote).join(' ')}` : ''}`,
    work: (host, { controller, task, signal }) =>
      execOnHost(
        controller,
        host.hostId,
        { task, cmd, stdin: script, ...(timeoutMs ? { timeoutMs } : {}) },
        (stream, chunk) => host.append(stream, chunk),
        signal,
      ),
  };
}

/** A browser File as a PushSource; its sha256 is computed once and shared by every host. */
function fileSource(file: File, mode: number): () => Promise<PushSource> {
  const read = async (offset: number, length: number) => new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
  let hashed: Promise<PushSource> | undefined;
  return () => (hashed ??= hashSource(file.size, read).then((sha256) => ({ size: file.size, sha256, mode, read })));
}

/** Where a file lands: into `dest` when it names a directory (ends in /) or several files go. */
export function pushTarget(dest: string, fileName: string, several: boolean): string {
  if (dest.endsWith('/')) return `${dest}${fileName}`;
  return several ? `${dest}/${fileName}` : dest;
}

/** Files pushed to `dest` on each host, one after another, with progress over all of them. */
export function pushSpec(files: readonly File[], dest: string, mode: number): TaskSpec {
  if (files.length === 0) throw new FlotillaError('bad-config', 'choose at least one file to push');
  if (!dest.startsWith('/')) throw new FlotillaError('bad-config', 'the destination must be an absolute path, like /tmp/ or /etc/app/app.conf');
  const sources = files.map((f) => fileSource(f, mode));
  const total = files.reduce((n, f) => n + f.size, 0);
  const names = files.length === 1 ? files[0]!.name : `${files.length} files`;
  return {
    kind: 'push',
    command: `push ${names} (${bytes(total)}) → ${dest}`,
    parts: files.length,
    async work(host, { controller, task, signal }) {
      const started = performance.now();
      let done = 0;
      host.moved(0, total);
      for (const [i, file] of files.entries()) {
        if (signal.aborted) return { hostId: host.hostId, status: 'cancelled', durationMs: Math.round(performance.now() - started) };
        const path = pushTarget(dest, file.name, files.length > 1);
        // Each file is its own task on the host: the journal runs a task id once.
        const onProgress = (sent: number) => host.moved(done + sent, total);
        const result = await pushToHost(controller, host.hostId, files.length > 1 ? `${task}.${i}` : task, path, await sources[i]!(), onProgress, signal);
        if (result.status !== 'ok') return { ...result, durationMs: Math.round(performance.now() - started) };
        done += file.size;
        host.moved(done, total);
        host.note('stdout', `pushed ${file.name} (${bytes(file.size)}) → ${path}\n`);
      }
      return { hostId: host.hostId, status: 'ok', durationMs: Math.round(performance.now() - started) };
    },
  };
}

/** The last part of a path, for the download's name. */
function baseName(path: string): string {
  return path.split('/').filter(Boolean).pop() ?? 'file';
}

/**
 * Largest file a fetch takes: the browser holds it in memory until it is saved. A bigger file
 * is refused as soon as the host says its size, before more than a chunk of it arrives.
 */
export const MAX_FETCH_BYTES = 256 * 1024 * 1024;

/** "256 MiB". */
function mib(n: number): string {
  return `${Math.round((n / 1024 / 1024) * 10) / 10} MiB`;
}

/** A file fetched from each host into memory, then offered as a download named after the host (name and short id). */
export function fetchSpec(path: string, maxBytes = MAX_FETCH_BYTES): TaskSpec {
  if (!path.startsWith('/')) throw new FlotillaError('bad-config', 'the path must be absolute, like /etc/hostname');
  return {
    kind: 'fetch',
    command: `fetch ${path}`,
    path,
    async work(host, { controller, task, signal }) {
      const parts: Uint8Array<ArrayBuffer>[] = [];
      let received = 0;
      // Stopped here when the file is too big; the task's own cancel stops it too.
      const stop = new AbortController();
      const follow = () => stop.abort();
      signal.addEventListener('abort', follow);
      let tooBig: number | undefined;
      const refuse = (size: number) => {
        tooBig ??= size;
        parts.length = 0;
        stop.abort();
      };
      let result: HostResult;
      try {
        result = await fetchFromHost(
          controller,
          host.hostId,
          task,
          path,
          (_offset, chunk) => {
            if (tooBig !== undefined) return;
            if (received + chunk.length > maxBytes) return refuse(received + chunk.length);
            parts.push(new Uint8Array(chunk));
            received += chunk.length;
          },
          (got, total) => {
            if (total > maxBytes) refuse(total);
            else host.moved(got, total);
          },
          stop.signal,
        );
      } finally {
        signal.removeEventListener('abort', follow);
      }
      if (tooBig !== undefined && !signal.aborted) {
        return {
          hostId: host.hostId,
          status: 'failed',
          durationMs: result.durationMs,
          error: {
            code: 'too-large',
            detail: `${path} is ${bytes(tooBig)}, over the ${mib(maxBytes)} a fetch in the browser may hold in memory; fetch it with the CLI (flotilla fetch)`,
          },
        };
      }
      if (result.status === 'ok') {
        // Octet-stream, so the browser keeps the name as given instead of adding an extension.
        const blob = new Blob(parts, { type: 'application/octet-stream' });
        host.download = { url: URL.createObjectURL(blob), name: `${host.label}-${host.hostId.slice(0, 8)}-${baseName(path)}`, size: blob.size };
        const sha = typeof result.data?.['sha256'] === 'string' ? result.data['sha256'] : '';
        host.note('stdout', `fetched ${path} (${bytes(received)}, sha256 ${sha.slice(0, 16)}…)\n`);
      }
      return result;
    },
  };
}
