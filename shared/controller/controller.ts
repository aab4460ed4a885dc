// The controller core shared by the CLI and the PWA: opens authenticated connections to
// agents (in parallel, bounded, reused), pins and accepts hosts, and fans work out.

import { FlotillaError } from '../wire/errors.ts';
import { issueHostCert } from '../identity/certs.ts';
import { callOk, createAgentConnection, type AgentConnection } from './agent-connection.ts';
import * as capabilities from '../../capabilities/registry.ts';
import { createLinkInbox } from '../session/link-queue.ts';
import { runHandshake, verifyJoinProof, type HandshakeResult } from '../session/handshake.ts';
import { checkAgentHello } from './peer-checks.ts';
import { createSecureSession } from '../session/session.ts';
import { type HostRecord, type HostStore, type TokenStore } from './hosts.ts';
import type { DeviceIdentity } from '../identity/fleet.ts';
import type { Dialer } from '../session/transport.ts';

/** Everything a controller needs. */
export interface ControllerOptions {
  device: DeviceIdentity;
  dialer: Dialer;
  hosts: HostStore;
  tokens?: TokenStore;
  /** Connections opened at once (like Ansible's forks). */
  forks?: number;
  dialTimeoutMs?: number;
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

/** The outcome of one host's part of a fan-out. */
export type Settled<T> = { hostId: string; ok: true; value: T } | { hostId: string; ok: false; error: FlotillaError };

export interface Controller {
  readonly device: DeviceIdentity;
  /** An open connection to `hostId` (reused while open). Refuses rejected hosts. */
  connect(hostId: string): Promise<AgentConnection>;
  /** True while an authenticated connection to `hostId` is open (connect() would reuse it). */
  connected(hostId: string): boolean;
  /** Connects, reads facts and records the host (accepting it if it proved a join token). */
  refresh(hostId: string): Promise<HostRecord>;
  /** Accepts a pending host: issues its host certificate (needs the fleet key). */
  accept(hostId: string): Promise<HostRecord>;
  /** Marks a host rejected; no work is sent to it. */
  reject(hostId: string): Promise<void>;
  /** Runs `work` on each host with at most `forks` at once; never rejects. */
  fanOut<T>(hostIds: readonly string[], work: (hostId: string) => Promise<T>, onSettled?: (s: Settled<T>) => void): Promise<Settled<T>[]>;
  /** Closes every connection. */
  close(): void;
}

function asError(error: unknown): FlotillaError {
  return error instanceof FlotillaError ? error : new FlotillaError('internal', error instanceof Error ? error.message : String(error));
}

/** Creates a controller. */
export function createController(o: ControllerOptions): Controller {
  const { device } = o;
  const connections = new Map<string, Promise<AgentConnection>>();
  const ready = new Set<string>();
  const forks = Math.max(1, o.forks ?? 32);
  let tokenWrites: Promise<void> = Promise.resolve();

  async function recordFromHello(hostId: string, hs: HandshakeResult, accepted: boolean): Promise<HostRecord> {
    const now = Date.now();
    const known = await o.hosts.get(hostId);
    const record: HostRecord = {
      id: hostId,
      status: known?.status === 'rejected' ? 'rejected' : accepted || known?.status === 'accepted' ? 'accepted' : 'pending',
      signPub: hs.peer.signPub,
      encPub: hs.peer.encPub,
      facts: known?.facts,
      firstSeen: known?.firstSeen ?? now,
      lastSeen: now,
    };
    await o.hosts.put(record);
    return record;
  }

  /** Accepts the host in-band when it proved a token this device issued. */
  async function acceptByToken(connection: AgentConnection, hs: HandshakeResult): Promise<boolean> {
    const join = hs.join;
    const tokens = o.tokens;
    if (!join || !tokens || !device.fleetKeys) return false;
    const token = await tokens.get(join.tid);
    if (!token || token.revoked || token.exp <= Date.now()) return false;
    if (!(await verifyJoinProof(join, token.secret, hs.transcript))) return false;
    // Claim a use of the token before issuing the certificate, one claim at a time, so hosts
    // joining at once can neither exceed maxUses nor lose each other's usedBy entry.
    const claim = tokenWrites
      .catch(() => undefined)
      .then(async () => {
        const fresh = (await tokens.get(token.tid)) ?? token;
        if (fresh.usedBy.includes(hs.peer.id)) return true;
        if (fresh.usedBy.length >= (fresh.maxUses ?? 1)) return false;
        await tokens.put({ ...fresh, usedBy: [...fresh.usedBy, hs.peer.id] });
        return true;
      });
    tokenWrites = claim.then(() => undefined);
    if (!(await claim)) {
      o.log?.('token-used-up', { host: hs.peer.id.slice(0, 8), token: token.tid });
      return false;
    }
    await sendHostCert(connection, hs.peer);
    o.log?.('host-joined', { host: hs.peer.id.slice(0, 8), token: token.tid });
    return true;
  }

  async function sendHostCert(connection: AgentConnection, keys: { signPub: string; encPub: string }): Promise<void> {
    if (!device.fleetKeys) throw new FlotillaError('forbidden', 'only a device holding the fleet key can accept hosts');
    const cert = await issueHostCert(device.fleetKeys.privateKey, device.fleetId, keys, device.id);
    await callOk(connection, capabilities.hostCert, { cert: cert as unknown as Record<string, unknown> });
  }

  async function open(hostId: string): Promise<AgentConnection> {
    const known = await o.hosts.get(hostId);
    if (known?.status === 'rejected') throw new FlotillaError('forbidden', `host ${hostId.slice(0, 8)} was rejected`);
    const started = performance.now();
    const link = await o.dialer.dial(hostId, { timeoutMs: o.dialTimeoutMs ?? 15_000 });
    const dialled = performance.now();
    const inbox = createLinkInbox(link);
    let accepted = false;
    const hs = await runHandshake(link, inbox, {
      role: 'device',
      keys: device.keys,
      pub: device.pub,
      id: device.id,
      fleet: device.fleetId,
      fleetPub: device.fleetPub,
      cert: device.cert,
      ...(device.revocation ? { revocation: device.revocation } : {}),
      checkPeer: async (hello) => {
        if (hello.id !== hostId) throw new FlotillaError('id-mismatch', `dialled ${hostId.slice(0, 8)}, answered by ${hello.id.slice(0, 8)}`);
        const pinned = known ? { signPub: known.signPub, encPub: known.encPub } : undefined;
        accepted = (await checkAgentHello(hello, device.fleetId, device.fleetPub, pinned)).accepted;
      },
    });
    const connection = createAgentConnection(hostId, createSecureSession(link, inbox, hs));
    if (!accepted && known?.status !== 'accepted') accepted = await acceptByToken(connection, hs);
    else if (!accepted && known?.status === 'accepted' && device.fleetKeys) await sendHostCert(connection, hs.peer); // re-issue a lost cert
    await recordFromHello(hostId, hs, accepted);
    // Where a slow connect went (-v in the CLI, the console in the PWA).
    const ms = (t: number) => Math.round(t * 10) / 10;
    o.log?.('host-connected', { host: hostId.slice(0, 8), dialMs: ms(dialled - started), handshakeMs: ms(performance.now() - dialled) });
    return connection;
  }

  const controller: Controller = {
    device,
    connect(hostId) {
      const existing = connections.get(hostId);
      if (existing) return existing;
      const opening = open(hostId);
      connections.set(hostId, opening);
      opening.then(
        (connection) => {
          ready.add(hostId);
          connection.onClose(() => {
            if (connections.get(hostId) !== opening) return;
            connections.delete(hostId);
            ready.delete(hostId);
          });
        },
        () => connections.get(hostId) === opening && connections.delete(hostId),
      );
      return opening;
    },
    connected: (hostId) => ready.has(hostId) && connections.has(hostId),
    async refresh(hostId) {
      const connection = await controller.connect(hostId);
      const facts = await callOk(connection, capabilities.facts, {});
      const record = await o.hosts.get(hostId);
      if (!record) throw new FlotillaError('internal', 'host vanished from the store');
      const updated = { ...record, facts, lastSeen: Date.now() };
      await o.hosts.put(updated);
      return updated;
    },
    async accept(hostId) {
      const record = await o.hosts.get(hostId);
      if (record) await o.hosts.put({ ...record, status: 'pending' });
      const connection = await controller.connect(hostId);
      const now = await o.hosts.get(hostId);
      if (now?.status !== 'accepted') {
        await sendHostCert(connection, connection.session.peer);
        await o.hosts.put({ ...now!, status: 'accepted' });
      }
      return controller.refresh(hostId);
    },
    async reject(hostId) {
      const record = await o.hosts.get(hostId);
      const now = Date.now();
      await o.hosts.put(
        record
          ? { ...record, status: 'rejected' }
          : { id: hostId, status: 'rejected', signPub: '', encPub: '', facts: undefined, firstSeen: now, lastSeen: now },
      );
      void connections.get(hostId)?.then(
        (c) => c.close(),
        () => undefined,
      );
    },
    async fanOut(hostIds, work, onSettled) {
      const results: Settled<Awaited<ReturnType<typeof work>>>[] = [];
      let next = 0;
      const worker = async () => {
        while (next < hostIds.length) {
          const hostId = hostIds[next++]!;
          let settled: Settled<Awaited<ReturnType<typeof work>>>;
          try {
            settled = { hostId, ok: true, value: await work(hostId) };
          } catch (error) {
            settled = { hostId, ok: false, error: asError(error) };
          }
          results.push(settled);
          onSettled?.(settled);
        }
      };
      await Promise.all(Array.from({ length: Math.min(forks, hostIds.length) }, worker));
      return results;
    },
    close() {
      for (const opening of connections.values())
        void opening.then(
          (c) => c.close(),
          () => undefined,
        );
      connections.clear();
    },
  };
  return controller;
}
