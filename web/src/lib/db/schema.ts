// The PWA's IndexedDB: one database, a versioned schema, and the record types kept in it.

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { HostRecord, TokenRecord } from '../../../../shared/controller/hosts.ts';
import type { DeviceIdentity } from '../../../../shared/identity/fleet.ts';
import type { ResultStatus } from '../../../../shared/wire/protocol.ts';

/** A host's part of a task, as history keeps it. */
export interface TaskHostRecord {
  hostId: string;
  label: string;
  /** `queued`: left in the fleet store for an offline host until `deadline`; `expired` once that passed unrun. */
  status: ResultStatus | 'running' | 'queued' | 'expired';
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** True when stdout or stderr was cut at the cap. */
  truncated: boolean;
  error: string | undefined;
  startedAt: number;
  durationMs: number | undefined;
  /** Something the user must know about this result (a fetched file this browser does not have). */
  note?: string | undefined;
}

/** What a task did: a command, a script (run as a command with its text on stdin), files pushed, a file fetched. */
export type TaskKind = 'exec' | 'script' | 'push' | 'fetch';

/** One task: what was asked of which hosts, and what each answered. */
export interface TaskRecord {
  id: string;
  selector: string;
  kind: TaskKind;
  command: string;
  device: string;
  startedAt: number;
  endedAt: number | undefined;
  hosts: TaskHostRecord[];
  /** Files of a push of several: each is its own task on the host, `<id>.<n>`. */
  parts?: number | undefined;
  /** The path a fetch reads (to fetch it again). */
  path?: string | undefined;
  /** Set on tasks another device ran (from the fleet store): that device's name. */
  from?: string | undefined;
  /** Offline hosts got the task through the fleet store, kept until this time (ms). */
  deadline?: number | undefined;
}

/** This browser's device identity (non-extractable keys) and where its signaling server is. */
export interface StoredDevice {
  device: DeviceIdentity;
  signal: string;
  createdAt: number;
}

export interface FlotillaDb extends DBSchema {
  identity: { key: string; value: StoredDevice };
  hosts: { key: string; value: HostRecord };
  tokens: { key: string; value: TokenRecord };
  tasks: { key: string; value: TaskRecord; indexes: { startedAt: number } };
  settings: { key: string; value: unknown };
  /** The fleet store's cache (FleetSync's snapshot), one entry per fleet. */
  sync: { key: string; value: unknown };
}

export type Db = IDBPDatabase<FlotillaDb>;

/** Name and version: bump the version and add a step below to change the schema. */
export const DB_NAME = 'flotilla';
export const DB_VERSION = 2;

/** Opens (and on first use creates or upgrades) the database. */
export function openFlotillaDb(name = DB_NAME): Promise<Db> {
  return openDB<FlotillaDb>(name, DB_VERSION, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        db.createObjectStore('identity');
        db.createObjectStore('hosts', { keyPath: 'id' });
        db.createObjectStore('tokens', { keyPath: 'tid' });
        db.createObjectStore('tasks', { keyPath: 'id' }).createIndex('startedAt', 'startedAt');
        db.createObjectStore('settings');
      }
      // Version 2 adds the fleet store's cache; everything else is kept as it is.
      if (oldVersion < 2) db.createObjectStore('sync');
    },
    blocking() {
      // A newer version of the app wants to upgrade: let it (this tab reloads on its next visit).
      location.reload();
    },
  });
}
