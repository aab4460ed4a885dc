// Connects the CLI to its fleet: a werift endpoint registered under this device's id, the
// shared controller core, presence from the signaling server, and selector resolution.

import { FlotillaError } from '../../shared/errors.ts';
import { createController, type Controller } from '../../shared/controller.ts';
import { createPeerCredential } from '../../shared/tokens.ts';
import { defaultIceServers, fetchIceServers, fetchPresence, type PresenceEntry } from '../../shared/signal-api.ts';
import { resolveSelector } from '../../shared/selector.ts';
import { toSelectable, type HostRecord } from '../../shared/hosts.ts';
import { createRtcEndpoint, type RtcEndpoint } from '../../agent/src/rtc/rtc-endpoint.ts';
import type { Home } from './home.ts';

/** A connected CLI session. */
export interface Fleet {
  home: Home;
  controller: Controller;
  endpoint: RtcEndpoint;
  presence(): Promise<Map<string, PresenceEntry>>;
  /** Learns about online hosts never contacted (facts, acceptance by token). */
  discover(presence: Map<string, PresenceEntry>, refreshAll?: boolean): Promise<void>;
  /** Accepted hosts matching the selector, each with whether it is online. */
  resolve(selector: string): Promise<{ record: HostRecord; online: boolean }[]>;
  close(): Promise<void>;
}

/** Opens the fleet connection for one CLI invocation. */
export async function openFleet(home: Home, options: { forks?: number; log?: (event: string, fields?: Record<string, unknown>) => void } = {}): Promise<Fleet> {
  const { device } = home;
  const iceServers = await fetchIceServers(home.signal, { keys: device.keys, pub: device.pub, kind: 'device', fleet: device.fleetId }).catch(() => defaultIceServers(home.signal));
  const endpoint = createRtcEndpoint({
    signalUrl: home.signal,
    id: device.id,
    token: () => createPeerCredential(device.keys, { purpose: 'register', kind: 'device', fleet: device.fleetId, ...device.pub }),
    iceServers,
    reconnect: true,
    ...(options.log ? { log: options.log } : {}),
  });
  await endpoint.signaling.whenOpen();
  const controller = createController({
    device,
    dialer: endpoint,
    hosts: home.hosts,
    tokens: home.tokens,
    ...(options.forks ? { forks: options.forks } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  let cachedPresence: Map<string, PresenceEntry> | undefined;

  const fleet: Fleet = {
    home,
    controller,
    endpoint,
    async presence() {
      cachedPresence = new Map((await fetchPresence(home.signal, device)).map((p) => [p.id, p]));
      return cachedPresence;
    },
    async discover(presence, refreshAll = false) {
      const records = new Map((await home.hosts.all()).map((r) => [r.id, r]));
      const todo = [...presence.values()]
        .filter((p) => p.online)
        .map((p) => p.id)
        .filter((id) => {
          const known = records.get(id);
          return known?.status !== 'rejected' && (refreshAll || !known?.facts || known.status === 'pending');
        });
      await controller.fanOut(todo, (id) => controller.refresh(id), (s) => {
        if (!s.ok) options.log?.('discover-failed', { host: s.hostId.slice(0, 8), error: s.error.message });
      });
    },
    async resolve(selector) {
      const presence = cachedPresence ?? (await fleet.presence());
      await fleet.discover(presence);
      const accepted = (await home.hosts.all()).filter((r) => r.status === 'accepted');
      const byId = new Map(accepted.map((r) => [r.id, r]));
      const selectable = accepted.map((r) => toSelectable(r, presence.get(r.id)?.online ?? false));
      if (selectable.length === 0) throw new FlotillaError('no-match', 'this fleet has no accepted hosts yet (see `flotilla hosts`)');
      return resolveSelector(selector, selectable).map((h) => ({ record: byId.get(h.id)!, online: h.online }));
    },
    async close() {
      controller.close();
      await endpoint.close();
    },
  };
  return fleet;
}
