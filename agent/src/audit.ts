// The append-only audit log: every accepted and refused request, with the device id.

import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { pathError } from '../../node/files.ts';

/** One audit record. */
export interface AuditRecord {
  ts: string;
  device: string;
  deviceName?: string;
  role?: string;
  request: string;
  task?: string;
  outcome: 'accepted' | 'refused';
  code?: string;
  detail?: string;
  /** `store`: a queued task or a store record, not a live request. */
  via?: 'store';
  /** The store record a refusal is about. */
  rid?: string;
}

export interface AuditLog {
  write(record: Omit<AuditRecord, 'ts'>): void;
  /** Writes a record and resolves once it is written; rejects with a sentence if it cannot be. */
  record(record: Omit<AuditRecord, 'ts'>): Promise<void>;
  tail(limit: number): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

/** Opens <state>/audit.log for appending (mode 0600). */
export async function openAuditLog(stateDir: string, onError: (error: unknown) => void): Promise<AuditLog> {
  const path = join(stateDir, 'audit.log');
  const handle: FileHandle = await open(path, 'a', 0o600).catch((error: unknown) => {
    throw pathError(path, error, 'the audit log', 'file');
  });
  let chain: Promise<unknown> = Promise.resolve();
  /** Appends in order; the promise is this record's outcome, the chain goes on regardless. */
  const append = (record: Omit<AuditRecord, 'ts'>): Promise<void> => {
    const line = JSON.stringify({ ts: new Date().toISOString(), ...record }) + '\n';
    const written = chain.then(() => handle.appendFile(line));
    chain = written.catch(() => undefined);
    return written;
  };
  return {
    write(record) {
      void append(record).catch(onError);
    },
    async record(record) {
      try {
        await append(record);
      } catch (error) {
        onError(error);
        const code = (error as NodeJS.ErrnoException).code ?? String(error);
        throw new FlotillaError(
          'file-error',
          `the agent cannot write its audit log (${path}: ${code === 'ENOSPC' ? 'no space left on the device' : code}), so it did not run this request; free space under its state directory`,
        );
      }
    },
    async tail(limit) {
      await chain;
      const lines = (await readFile(path, 'utf8')).split('\n').filter(Boolean);
      return lines.slice(-limit).flatMap((line) => {
        try {
          return [JSON.parse(line) as AuditRecord];
        } catch {
          return [];
        }
      });
    },
    async close() {
      await chain;
      await handle.close();
    },
  };
}
