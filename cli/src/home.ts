// The CLI's home ($FLOTILLA_HOME, default ~/.config/flotilla): this device's identity and
// certificate (0600), the signaling URL, and the host and token lists as JSON files.

import { basename, join } from 'node:path';
import { mkdir, stat } from 'node:fs/promises';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { exportIdentity, exportSigningKeys, identityId, importIdentity, importSigningKeys, type StoredIdentity } from '../../shared/identity/crypto.ts';
import { parseDeviceCert, parseRevocationList, type DeviceCert, type RevocationList } from '../../shared/identity/certs.ts';
import type { DeviceIdentity } from '../../shared/identity/fleet.ts';
import type { HostRecord, HostStore, TokenRecord, TokenStore } from '../../shared/controller/hosts.ts';
import { isObj, obj, str } from '../../shared/wire/validate.ts';
import { readJson, writeJsonAtomic } from '../../node/files.ts';
import { currentScope } from './control/scope.ts';
import { homeDir } from './home-dir.ts';
import { selectorStore, type SelectorStore } from './selector-store.ts';
import { withFleetSelectors } from './fleet-selectors.ts';
import { checkRecords, damaged, hostProblem, tokenProblem } from './home-check.ts';

export { homeDir };

interface StoredDevice {
  identity: StoredIdentity;
  cert: DeviceCert;
  fleetPub: string;
  fleetKeys?: { priv: JsonWebKey; pub: string };
  revocation?: RevocationList;
  signal: string;
}

/** A loaded CLI home. */
export interface Home {
  dir: string;
  signal: string;
  device: DeviceIdentity;
  /** hosts.json; `remove` forgets a host (flotilla remove, or removed on another device). */
  hosts: HostStore & { remove(id: string): Promise<void> };
  tokens: TokenStore;
  /** Saved selectors (`@name`), selectors.json. */
  selectors: SelectorStore;
  saveRevocation(list: RevocationList): Promise<void>;
  /** Re-reads hosts.json and tokens.json if another process changed them (the control process calls it per request). */
  sync(): Promise<void>;
}

const mtimeOf = (path: string) =>
  stat(path).then(
    (s) => s.mtimeMs,
    () => 0,
  );

/** Saves a device identity into a home directory. */
export async function saveDevice(dir: string, device: DeviceIdentity, signal: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stored: StoredDevice = {
    identity: await exportIdentity(device.keys),
    cert: device.cert,
    fleetPub: device.fleetPub,
    ...(device.fleetKeys ? { fleetKeys: await exportSigningKeys(device.fleetKeys) } : {}),
    ...(device.revocation ? { revocation: device.revocation } : {}),
    signal,
  };
  await writeJsonAtomic(join(dir, 'device.json'), stored, 0o600);
}

/** A JSON array file of records keyed by `key`, cached, with serialized atomic writes. */
export function jsonStore<T extends { [k in K]: string }, K extends string>(path: string, key: K, problem?: (record: unknown) => string | undefined) {
  // One load shared by concurrent callers: two loads racing would each make a map, and a
  // record put into the first would be lost when the second replaced it (seen as a join token
  // accepting a fourth host of three, when three hosts joined at once).
  let cache: Promise<Map<string, T>> | undefined;
  let seen = 0;
  let writing: Promise<void> = Promise.resolve();
  const load = (): Promise<Map<string, T>> => {
    if (cache) return cache;
    const loading = (async () => {
      seen = await mtimeOf(path);
      const raw = await readJson(path, `the ${basename(path)} list`).catch((error: unknown) => {
        throw problem && (error as { notJson?: boolean }).notJson ? damaged(path, basename(path), 'not JSON') : error;
      });
      // Checked when a check is given (openHome): a damaged entry is reported with its path,
      // not met later as a crash inside a command.
      const records = problem ? checkRecords<T>(path, basename(path), raw, problem) : Array.isArray(raw) ? (raw as T[]) : [];
      return new Map(records.filter((r) => isObj(r) && typeof r[key] === 'string').map((r) => [r[key], r]));
    })();
    cache = loading;
    loading.catch(() => cache === loading && (cache = undefined)); // a failed read is tried again
    return loading;
  };
  return {
    all: async () => [...(await load()).values()],
    get: async (id: string) => (await load()).get(id),
    async put(record: T) {
      const map = await load();
      map.set(record[key], record);
      // Serialise writes: parallel connections update hosts at once.
      writing = writing.then(async () => {
        await writeJsonAtomic(path, [...map.values()], 0o600);
        seen = await mtimeOf(path);
      });
      await writing;
    },
    async remove(id: string) {
      const map = await load();
      if (!map.delete(id)) return;
      writing = writing.then(async () => {
        await writeJsonAtomic(path, [...map.values()], 0o600);
        seen = await mtimeOf(path);
      });
      await writing;
    },
    /** Drops the cache when the file changed behind our back. */
    async sync() {
      await writing;
      if (cache && (await mtimeOf(path)) !== seen) cache = undefined;
    },
  };
}

/** Loads the home; explains how to create one if it does not exist. */
export async function openHome(dir = homeDir()): Promise<Home> {
  // Inside the control process (warm mode), the invocation uses the process's loaded home.
  const scope = currentScope();
  if (scope && scope.home.dir === dir) return scope.home;
  const devicePath = join(dir, 'device.json');
  const raw = await readJson(devicePath, "this device's keys").catch((error: unknown) => {
    throw (error as { notJson?: boolean }).notJson ? damaged(devicePath, 'device.json', 'not JSON') : error;
  });
  if (raw === undefined) throw new FlotillaError('bad-config', `no Flotilla device in ${dir}: run \`flotilla init --signal URL\` first (or set FLOTILLA_HOME)`);
  let device: DeviceIdentity;
  let o: Record<string, unknown>;
  try {
    o = obj(raw, 'device.json');
    const stored = raw as unknown as StoredDevice;
    const identity = obj(o['identity'], 'identity');
    const keys = await importIdentity(stored.identity);
    const pub = { signPub: str(identity, 'signPub', 1200), encPub: str(identity, 'encPub', 1200) };
    const cert = parseDeviceCert(o['cert']);
    str(o, 'signal', 512);
    device = {
      keys,
      pub,
      id: await identityId(pub),
      fleetId: cert.body.fleet,
      fleetPub: str(o, 'fleetPub', 1200),
      cert,
      ...(stored.fleetKeys ? { fleetKeys: await importSigningKeys(stored.fleetKeys) } : {}),
      ...(o['revocation'] ? { revocation: parseRevocationList(o['revocation']) } : {}),
    };
  } catch (error) {
    // A key that does not import, a field of the wrong type: one sentence, not a stack.
    throw damaged(devicePath, 'device.json', error instanceof FlotillaError ? (error.detail ?? error.code) : (error as Error).message.slice(0, 200));
  }
  const hosts = jsonStore<HostRecord, 'id'>(join(dir, 'hosts.json'), 'id', hostProblem);
  const tokens = jsonStore<TokenRecord, 'tid'>(join(dir, 'tokens.json'), 'tid', tokenProblem);
  const home: Home = {
    dir,
    signal: str(o, 'signal', 512),
    device,
    hosts,
    tokens,
    selectors: withFleetSelectors(selectorStore(join(dir, 'selectors.json')), dir),
    async saveRevocation(list) {
      device.revocation = list;
      await saveDevice(dir, device, home.signal);
    },
    async sync() {
      await Promise.all([hosts.sync(), tokens.sync()]);
    },
  };
  return home;
}
