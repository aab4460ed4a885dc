// Connects the CLI to its fleet: a werift endpoint registered under this device's id, the
// shared controller core, presence from the signaling server, and selector resolution.

import { FlotillaError } from '../../shared/wire/errors.ts';
import { createController, type Controller } from '../../shared/controller/controller.ts';
import { createPeerCredential, newSignalingInstance } from '../../shared/identity/tokens.ts';
import { defaultIceServers, fetchIceServers, fetchPresence, iceServerSource, type PresenceEntry } from '../../shared/controller/signal-api.ts';
import { expandSaved, matchesSelector, parseSelector, resolveSelector, savedNames, type Selector } from '../../shared/controller/selector.ts';
import { toSelectable, uniqueLabels, type HostRecord } from '../../shared/controller/hosts.ts';
import { createRtcEndpoint, type RtcEndpoint } from '../../node/rtc/rtc-endpoint.ts';
import type { RawLink } from '../../shared/session/transport.ts';
import type { Home } from './home.ts';
import { currentScope } from './control/scope.ts';
import { whenRegistered } from './signaling-wait.ts';
import { connectTimeoutMs } from './deadline.ts';

/** A host a selector chose. */
export interface Target {
  record: HostRecord;
  online: boolean;
}

/** A connected CLI session. */
export interface Fleet {
  home: Home;
  controller: Controller;
  endpoint: RtcEndpoint;
  presence(): Promise<Map<string, PresenceEntry>>;
  /** Learns about online hosts never contacted (facts, acceptance by token). */
  discover(presence: Map<string, PresenceEntry>, refreshAll?: boolean): Promise<void>;
  /** Accepted hosts matching the selector, each with whether it is online. */
  resolve(selector: string): Promise<Target[]>;
  /**
   * `resolve` in two steps, for work that may start before presence answers: `early`, the
   * accepted hosts the selector matches that this process holds an authenticated connection
   * to (online by that fact; none for a one-of selector, whose pick needs presence), and
   * `all`, exactly what `resolve` returns.
   */
  resolveStaged(selector: string): Promise<{ early: Target[]; all: Promise<Target[]> }>;
  /** Ids of the hosts this fleet holds an open data channel to. */
  openLinks(): string[];
  close(): Promise<void>;
}

/**
 * Bounds a controller's fan-out to `forks` at a time without touching its connections: the
 * control process shares one controller between invocations that each ask for their own --forks.
 */
function withForks(controller: Controller, forks: number): Controller {
  let running = 0;
  const waiting: (() => void)[] = [];
  const limited = async <T>(work: () => Promise<T>): Promise<T> => {
    if (running >= forks) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await work();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
  return {
    device: controller.device,
    connect: (id) => controller.connect(id),
    connected: (id) => controller.connected(id),
    refresh: (id) => controller.refresh(id),
    accept: (id) => controller.accept(id),
    reject: (id) => controller.reject(id),
    fanOut: (ids, work, onSettled) => controller.fanOut(ids, (id) => limited(() => work(id)), onSettled),
    close: () => controller.close(),
  };
}

/** Opens the fleet connection for one CLI invocation. */
export async function openFleet(
  home: Home,
  options: { connectTimeoutMs?: number; forks?: number; log?: (event: string, fields?: Record<string, unknown>) => void } = {},
): Promise<Fleet> {
  // Inside the control process (warm mode) every invocation shares its fleet; close() leaves it open.
  const scope = currentScope();
  if (scope) {
    return { ...scope.fleet, controller: withForks(scope.fleet.controller, options.forks ?? 32), close: async () => undefined };
  }
  const { device } = home;
  // Fetched again before TURN credentials expire (a control process lives for hours); the first
  // fetch overlaps registering with the signaling server.
  const iceServers = iceServerSource(
    () => fetchIceServers(home.signal, { keys: device.keys, pub: device.pub, kind: 'device', fleet: device.fleetId }),
    () => defaultIceServers(home.signal),
  );
  void iceServers();
  const endpoint = createRtcEndpoint({
    signalUrl: home.signal,
    // Its own instance id, so another process of this device (a control process, a second
    // invocation) does not take the registration away from it.
    id: `${device.id}-${newSignalingInstance()}`,
    token: () => createPeerCredential(device.keys, { purpose: 'register', kind: 'device', fleet: device.fleetId, ...device.pub }),
    iceServers,
    reconnect: true,
    ...(options.log ? { log: options.log } : {}),
  });
  await whenRegistered(endpoint, home.signal, options.connectTimeoutMs ?? connectTimeoutMs());
  const links = new Map<RawLink, string>();
  const controller = createController({
    device,
    dialer: {
      async dial(remoteId, dialOptions) {
        const link = await endpoint.dial(remoteId, dialOptions);
        // A link has one close handler (the session's): chain ours in front of it.
        const tracked: RawLink = { ...link, onClose: (handler) => link.onClose((reason) => (links.delete(tracked), handler(reason))) };
        links.set(tracked, remoteId);
        return tracked;
      },
    },
    hosts: home.hosts,
    tokens: home.tokens,
    ...(options.forks ? { forks: options.forks } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  let cachedPresence: Map<string, PresenceEntry> | undefined;
  // A presence request under way: resolve() waits for it (the control process starts one per
  // invocation without waiting), and falls back to the last answer if it fails.
  let pendingPresence: Promise<Map<string, PresenceEntry>> | undefined;

  const fleet: Fleet = {
    home,
    controller,
    endpoint,
    presence() {
      const asking = fetchPresence(home.signal, device).then((list) => (cachedPresence = new Map(list.map((p) => [p.id, p]))));
      pendingPresence = asking;
      const settle = () => void (pendingPresence === asking && (pendingPresence = undefined));
      asking.then(settle, settle);
      return asking;
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
      await controller.fanOut(
        todo,
        (id) => controller.refresh(id),
        (s) => {
          if (!s.ok) options.log?.('discover-failed', { host: s.hostId.slice(0, 8), error: s.error.message });
        },
      );
    },
    async resolve(selector) {
      const presence = pendingPresence
        ? await pendingPresence.catch((error: unknown) => cachedPresence ?? Promise.reject(error))
        : (cachedPresence ?? (await fleet.presence()));
      await fleet.discover(presence);
      const accepted = (await home.hosts.all()).filter((r) => r.status === 'accepted');
      const byId = new Map(accepted.map((r) => [r.id, r]));
      const selectable = accepted.map((r) => toSelectable(r, presence.get(r.id)?.online ?? false));
      if (selectable.length === 0) throw new FlotillaError('no-match', 'this fleet has no accepted hosts yet (see `flotilla hosts`)');
      // Only a selector with an @name reads selectors.json (a damaged file then says so).
      const lookup = savedNames(parseSelector(selector)).length > 0 ? await home.selectors.lookup() : undefined;
      return resolveSelector(selector, selectable, lookup ? { lookup } : {}).map((h) => ({ record: byId.get(h.id)!, online: h.online }));
    },
    async resolveStaged(selector) {
      const all = fleet.resolve(selector);
      all.catch(() => undefined); // the caller awaits it; this only keeps it from being unhandled meanwhile
      let ast: Selector;
      try {
        ast = parseSelector(selector);
        if (savedNames(ast).length > 0) ast = expandSaved(ast, await home.selectors.lookup());
      } catch {
        return { early: [], all };
      }
      if (ast.kind === 'oneOf') return { early: [], all };
      const records = await home.hosts.all();
      const early = records
        .filter((r) => r.status === 'accepted' && controller.connected(r.id) && matchesSelector(ast, toSelectable(r, true)))
        .map((record) => ({ record, online: true }));
      return { early, all };
    },
    openLinks() {
      return [...new Set(links.values())];
    },
    async close() {
      controller.close();
      await endpoint.close();
    },
  };
  return fleet;
}

/** The hosts a selector chose, as the task pipeline takes them, with their display names. */
export async function selectTargets(fleet: Fleet, selector: string): Promise<{ targets: { id: string; online: boolean }[]; names: Map<string, string> }> {
  const chosen = await fleet.resolve(selector);
  return { targets: chosen.map((t) => ({ id: t.record.id, online: t.online })), names: uniqueLabels(chosen.map((t) => t.record)) };
}
