// Revocation lists per fleet: the server keeps the highest verified version and hands it to
// whoever asks. It cannot forge one (the fleet key signs it); it can only withhold it.

import { parseRevocationList, verifyRevocationList, type RevocationList } from '../../shared/identity/certs.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { isObj, obj, str } from '../../shared/wire/validate.ts';
import { addressKey, createKeyedLimiter } from './limits.ts';
import { errorText, short, type Logger } from './log.ts';

/** What `offer` did: `accepted` is false when the server already held this version or newer. */
export interface OfferResult {
  accepted: boolean;
  fleet: string;
  /** The version the server holds now. */
  version: number;
}

/** The per-fleet store of revocation lists. */
export interface RevocationStore {
  get(fleet: string): RevocationList | undefined;
  /**
   * Verifies `raw` against `fleetPub` and keeps it if its version is higher; throws FlotillaError.
   * A list for a fleet the server holds nothing for counts against `remote`'s daily allowance.
   */
  offer(raw: unknown, fleetPub: string, remote?: string): Promise<OfferResult>;
  snapshot(): RevocationsFile;
}

/** What is written to `revocations.json`: each list with the fleet key that verifies it. */
export interface RevocationsFile {
  v: 1;
  fleets: { fleetPub: string; list: RevocationList }[];
}

/** Options for createRevocationStore. */
export interface RevocationStoreOptions {
  maxFleets: number;
  /** New fleets one address may add in a day; unbounded when absent. */
  newFleetsPerIpPerDay?: number;
  log: Logger;
  onChange?: () => void;
  /** A newer list was stored (not called for lists restored from disk). */
  onStored?: (list: RevocationList) => void;
  restored?: unknown;
}

/** Creates the store; persisted lists are verified again, so a tampered file is ignored. */
export async function createRevocationStore(options: RevocationStoreOptions): Promise<RevocationStore> {
  const lists = new Map<string, { fleetPub: string; list: RevocationList }>();
  const changed = options.onChange ?? (() => undefined);
  // Every list is signed by its own fleet key, and keys are cheap to make: without a bound per
  // address, one client could fill maxFleets and a genuine new fleet would be refused.
  const perDay = options.newFleetsPerIpPerDay;
  const newFleets = perDay === undefined ? undefined : createKeyedLimiter(perDay / 86_400, perDay);

  const offer = async (raw: unknown, fleetPub: string, remote?: string): Promise<OfferResult> => {
    const fleet = parseRevocationList(raw).body.fleet;
    const list = await verifyRevocationList(raw, fleetPub, fleet);
    // Checked after the await: two uploads racing for one fleet still keep the higher version.
    const held = lists.get(fleet);
    if (held && held.list.body.version >= list.body.version) return { accepted: false, fleet, version: held.list.body.version };
    if (!held && lists.size >= options.maxFleets) {
      throw new FlotillaError('rate-limited', 'this server holds revocation lists for as many fleets as it allows');
    }
    if (!held && remote !== undefined && newFleets && !newFleets.allow(addressKey(remote))) {
      throw new FlotillaError('rate-limited', `your address has stored revocation lists for ${perDay ?? 0} new fleets today, as many as this server allows`);
    }
    lists.set(fleet, { fleetPub, list });
    changed();
    return { accepted: true, fleet, version: list.body.version };
  };

  const restored = isObj(options.restored) && Array.isArray(options.restored['fleets']) ? options.restored['fleets'] : [];
  for (const entry of restored) {
    try {
      const o = obj(entry, 'entry');
      await offer(o['list'], str(o, 'fleetPub', 1200, 1));
    } catch (error) {
      options.log.warn('revocation.restore-skipped', { error: errorText(error) });
    }
  }

  return {
    get: (fleet) => lists.get(fleet)?.list,
    offer: async (raw, fleetPub, remote) => {
      const result = await offer(raw, fleetPub, remote);
      options.log.info('revocation.offered', { fleet: short(result.fleet), version: result.version, accepted: result.accepted });
      const stored = result.accepted ? lists.get(result.fleet)?.list : undefined;
      if (stored) options.onStored?.(stored);
      return result;
    },
    snapshot: () => ({ v: 1, fleets: [...lists.values()] }),
  };
}
