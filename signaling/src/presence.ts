// Presence per fleet: which agents are connected now and when each was last seen. The fleet
// is what the agent's own credential claims; the server cannot check membership, so a device
// treats this list as a hint and still verifies each agent's key when it connects.

import { isObj } from '../../shared/wire/validate.ts';

/** One agent as a presence read returns it (times in ms since the epoch). */
export interface AgentPresence {
  id: string;
  online: boolean;
  /** When the current connection was registered; only while online. */
  connectedAt?: number;
  lastSeen: number;
}

interface Entry {
  fleet: string;
  online: boolean;
  connectedAt: number | undefined;
  lastSeen: number;
}

/** The presence table. `onChange` fires on every change worth persisting. */
export interface Presence {
  /** An agent registered (or replaced its socket). */
  connected(id: string, fleet: string): void;
  /** The agent sent something: it is alive now. */
  seen(id: string): void;
  /** The agent's current socket closed. */
  disconnected(id: string): void;
  /** Agents of one fleet, online first, then most recently seen. */
  list(fleet: string): AgentPresence[];
  onlineCount(): number;
  /** Persistable form: last-seen times only (nobody is online after a restart). */
  snapshot(): PresenceFile;
}

/** What is written to `presence.json`. */
export interface PresenceFile {
  v: 1;
  agents: { id: string; fleet: string; lastSeen: number }[];
}

/** Options for createPresence; `now` is injectable for tests. */
export interface PresenceOptions {
  maxTrackedAgents: number;
  onChange?: () => void;
  now?: () => number;
  restored?: unknown;
}

const ID = /^[a-z2-7]{52}$/;

/** Reads a persisted presence file, skipping malformed entries; returns [] for anything else. */
export function readPresenceFile(raw: unknown): PresenceFile['agents'] {
  if (!isObj(raw) || raw['v'] !== 1 || !Array.isArray(raw['agents'])) return [];
  return raw['agents'].flatMap((a: unknown) =>
    isObj(a) &&
    typeof a['id'] === 'string' &&
    ID.test(a['id']) &&
    typeof a['fleet'] === 'string' &&
    ID.test(a['fleet']) &&
    typeof a['lastSeen'] === 'number' &&
    Number.isFinite(a['lastSeen'])
      ? [{ id: a['id'], fleet: a['fleet'], lastSeen: a['lastSeen'] }]
      : [],
  );
}

/** Creates the presence table, restoring last-seen times from a persisted file if given. */
export function createPresence(options: PresenceOptions): Presence {
  const now = options.now ?? Date.now;
  const changed = options.onChange ?? (() => undefined);
  const agents = new Map<string, Entry>();
  let online = 0;
  for (const a of readPresenceFile(options.restored)) {
    agents.set(a.id, { fleet: a.fleet, online: false, connectedAt: undefined, lastSeen: a.lastSeen });
  }

  /** Over the bound, drops the longest-unseen offline agents down to 90% (so this sort is rare). */
  const evict = (): void => {
    if (agents.size <= options.maxTrackedAgents) return;
    const offline = [...agents].filter(([, e]) => !e.online).sort(([, a], [, b]) => a.lastSeen - b.lastSeen);
    const excess = agents.size - Math.floor(options.maxTrackedAgents * 0.9);
    for (const [id] of offline.slice(0, excess)) agents.delete(id);
  };

  return {
    connected(id, fleet) {
      const t = now();
      const entry = agents.get(id);
      if (!entry?.online) online++;
      agents.set(id, { fleet, online: true, connectedAt: t, lastSeen: t });
      evict();
      changed();
    },
    seen(id) {
      const entry = agents.get(id);
      if (!entry) return;
      entry.lastSeen = now();
      changed();
    },
    disconnected(id) {
      const entry = agents.get(id);
      if (!entry?.online) return;
      online--;
      entry.online = false;
      entry.connectedAt = undefined;
      entry.lastSeen = now();
      changed();
    },
    list(fleet) {
      const out: AgentPresence[] = [];
      for (const [id, e] of agents) {
        if (e.fleet !== fleet) continue;
        out.push(
          e.online && e.connectedAt !== undefined
            ? { id, online: true, connectedAt: e.connectedAt, lastSeen: e.lastSeen }
            : { id, online: false, lastSeen: e.lastSeen },
        );
      }
      return out.sort((a, b) => Number(b.online) - Number(a.online) || b.lastSeen - a.lastSeen);
    },
    onlineCount: () => online,
    snapshot() {
      return { v: 1, agents: [...agents].map(([id, e]) => ({ id, fleet: e.fleet, lastSeen: e.lastSeen })) };
    },
  };
}
