// The stores the controller core needs (hosts, tokens), the identity and the settings, over
// IndexedDB. Everything read back is checked by a type guard: storage outlives app versions.
// Callers put plain objects (UI lists hold records in $state.raw, never as proxies).

import type { HostRecord, HostStore, TokenRecord, TokenStore } from '../../../../shared/controller/hosts.ts';
import type { DeviceIdentity } from '../../../../shared/identity/fleet.ts';
import type { RevocationList } from '../../../../shared/identity/certs.ts';
import type { Db, StoredDevice } from './schema.ts';

const IDENTITY_KEY = 'device';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isKeyPair(value: unknown): value is CryptoKeyPair {
  return isObject(value) && value['privateKey'] instanceof CryptoKey && value['publicKey'] instanceof CryptoKey;
}

/** True for an identity as saveIdentity wrote it. */
export function isStoredDevice(value: unknown): value is StoredDevice {
  if (!isObject(value) || typeof value['signal'] !== 'string' || !isObject(value['device'])) return false;
  const d = value['device'];
  const keys = d['keys'];
  return (
    typeof d['id'] === 'string' &&
    typeof d['fleetId'] === 'string' &&
    typeof d['fleetPub'] === 'string' &&
    isObject(d['cert']) &&
    isObject(d['pub']) &&
    isObject(keys) &&
    isKeyPair(keys['sign']) &&
    isKeyPair(keys['enc']) &&
    (d['fleetKeys'] === undefined || isKeyPair(d['fleetKeys']))
  );
}

/** This browser's identity, if one was created. */
export async function loadIdentity(db: Db): Promise<StoredDevice | undefined> {
  const value: unknown = await db.get('identity', IDENTITY_KEY);
  if (value === undefined) return undefined;
  if (!isStoredDevice(value)) throw new Error('the stored identity is damaged');
  return value;
}

/** Stores the identity: CryptoKeys structured-clone into IndexedDB, non-extractable as made. */
export async function saveIdentity(db: Db, device: DeviceIdentity, signal: string): Promise<StoredDevice> {
  const stored: StoredDevice = { device, signal, createdAt: Date.now() };
  await db.put('identity', stored, IDENTITY_KEY);
  return stored;
}

/** Keeps a newer revocation list with the identity (the device object holds it too). */
export async function saveRevocation(db: Db, stored: StoredDevice, list: RevocationList): Promise<void> {
  await db.put('identity', { ...stored, device: { ...stored.device, revocation: list } }, IDENTITY_KEY);
}

function isHostRecord(value: unknown): value is HostRecord {
  return isObject(value) && typeof value['id'] === 'string' && typeof value['status'] === 'string' && typeof value['lastSeen'] === 'number';
}

function isTokenRecord(value: unknown): value is TokenRecord {
  return (
    isObject(value) &&
    typeof value['tid'] === 'string' &&
    typeof value['secret'] === 'string' &&
    typeof value['exp'] === 'number' &&
    Array.isArray(value['usedBy'])
  );
}

/** Hosts in IndexedDB; `onPut` lets the UI follow every change the controller makes. */
export function createHostStore(db: Db, onPut: (record: HostRecord) => void): HostStore {
  return {
    all: async () => (await db.getAll('hosts')).filter(isHostRecord),
    async get(id) {
      const value: unknown = await db.get('hosts', id);
      return isHostRecord(value) ? value : undefined;
    },
    async put(record) {
      await db.put('hosts', record);
      onPut(record);
    },
  };
}

/** Join tokens in IndexedDB. */
export function createTokenStore(db: Db, onPut: (record: TokenRecord) => void): TokenStore {
  return {
    all: async () => (await db.getAll('tokens')).filter(isTokenRecord),
    async get(tid) {
      const value: unknown = await db.get('tokens', tid);
      return isTokenRecord(value) ? value : undefined;
    },
    async put(record) {
      // The controller updates a token as read-modify-write, and two hosts joining with one
      // token at once would lose one `usedBy`: merge in one transaction (usedBy only grows,
      // revocation sticks).
      const tx = db.transaction('tokens', 'readwrite');
      const stored: unknown = await tx.store.get(record.tid);
      const merged: TokenRecord = isTokenRecord(stored)
        ? { ...record, revoked: record.revoked || stored.revoked, usedBy: [...new Set([...stored.usedBy, ...record.usedBy])] }
        : record;
      await Promise.all([tx.store.put(merged), tx.done]);
      onPut(merged);
    },
  };
}

/** One setting, or `fallback` when unset or of the wrong type. */
export async function getSetting<T>(db: Db, key: string, fallback: T, guard: (v: unknown) => v is T): Promise<T> {
  const value: unknown = await db.get('settings', key);
  return guard(value) ? value : fallback;
}

export async function putSetting(db: Db, key: string, value: unknown): Promise<void> {
  await db.put('settings', value, key);
}
