// The append-only audit log: every accepted and refused request, with the device id.

import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

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
}

export interface AuditLog {
  write(record: Omit<AuditRecord, 'ts'>): void;
  tail(limit: number): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

/** Opens <state>/audit.log for appending (mode 0600). */
export async function openAuditLog(stateDir: string, onError: (error: unknown) => void): Promise<AuditLog> {
  const path = join(stateDir, 'audit.log');
  const handle: FileHandle = await open(path, 'a', 0o600);
  let chain: Promise<unknown> = Promise.resolve();
  return {
    write(record) {
      const line = JSON.stringify({ ts: new Date().toISOString(), ...record }) + '\n';
      chain = chain.then(() => handle.appendFile(line)).catch(onError);
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
