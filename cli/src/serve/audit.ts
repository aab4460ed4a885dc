// The API's audit log: one JSON line per call (time, token name, method, path, status, duration)
// in the home's api-audit.log (0600). Bounded: past maxBytes the file becomes api-audit.log.1
// (replacing the previous one) and a new file starts, so the log never holds more than twice that.

import { appendFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** One call as the audit log records it. */
export interface AuditEntry {
  time: string;
  /** The token's name; absent when no valid token was shown. */
  token?: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  /** The invocation an invoke started. */
  invocation?: string;
}

/** Size at which the log is rotated. */
export const AUDIT_MAX_BYTES = 4 * 1024 * 1024;

/** Opens the audit log of a home. Writes are serialized; a write that fails is reported through `onError`, never thrown. */
export function createAuditLog(homeDir: string, options: { maxBytes?: number; onError?: (error: unknown) => void } = {}) {
  const path = join(homeDir, 'api-audit.log');
  const maxBytes = options.maxBytes ?? AUDIT_MAX_BYTES;
  let size: number | undefined;
  let queue: Promise<void> = Promise.resolve();

  async function write(line: string): Promise<void> {
    size ??= await stat(path).then(
      (s) => s.size,
      () => 0,
    );
    if (size > 0 && size + line.length > maxBytes) {
      await rename(path, `${path}.1`);
      size = 0;
    }
    await appendFile(path, line, { mode: 0o600 });
    size += Buffer.byteLength(line);
  }

  return {
    path,
    /** Appends an entry; resolves once it is written (or failed). */
    record(entry: AuditEntry): Promise<void> {
      const line = JSON.stringify(entry) + '\n';
      queue = queue.then(() => write(line)).catch((error: unknown) => options.onError?.(error));
      return queue;
    },
  };
}

export type AuditLog = ReturnType<typeof createAuditLog>;
