// The agent's side of the sealed store (docs/store.md): once accepted (a host certificate and the
// fleet key), the agent reads what is new for it at the signaling server's store, verifies every
// record (signature, certificate chain to the fleet key, not revoked, the writer's role, no
// older or rewritten version), keeps the fleet keyring to open tag-window tasks and selectors,
// runs queued tasks meant for it through the same path as a live request (run-request.ts) and
// leaves each result, sealed for the fleet's devices, in the store. Refusals go to the audit log.
//
// State is <state>/mailbox.json (0600, written atomically): the store's sequence number read
// so far, the newest version seen of every record, the keyrings (sealed, opened at start), the
// tasks waiting to run and the results not yet stored. A task is written down here before it
// runs and the journal records its start durably, so an agent killed at any point neither runs
// a task twice nor loses its result: after a restart the journal's entry becomes the result.

import { hostname } from 'node:os';
import { join } from 'node:path';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { fromBase64 } from '../../shared/wire/encoding.ts';
import type { Message } from '../../shared/wire/protocol.ts';
import { isObj } from '../../shared/wire/validate.ts';
import { roleAllows } from '../../shared/controller/authorize.ts';
import { matchesSelector, parseSelector, type SelectableHost } from '../../shared/controller/selector.ts';
import type { DeviceCertBody, Role } from '../../shared/identity/certs.ts';
import type { HttpFetch } from '../../shared/controller/signal-api.ts';
import {
  DEVICES,
  checkWriterRole,
  opaqueRid,
  openPayload,
  sealRecord,
  verifyRecord,
  type Envelope,
  type FleetTrust,
  type Recipients,
  type Scope,
  type StoredRecord,
} from '../../shared/store/envelope.ts';
import { epochKeys, keyringRid, openKeyring, scopeSealKey } from '../../shared/store/keyring.ts';
import { clipOutput, parsePayload, PLACEMENT, type Payload, type ResultDoc, type TaskDoc } from '../../shared/store/documents.ts';
import { storeList, storePut, type StoreMember } from '../../shared/store/client.ts';
import { relayPush, type RelayAnswer } from '../../shared/push/relay.ts';
import { relayMail } from './alerts/server-mail.ts';
import type { RelayMail } from '../../shared/alerts/mail-address.ts';
import { capabilityOfRequest, type Spec } from '../../capabilities/index.ts';
import { handler as factsHandler } from '../../capabilities/facts/agent.ts';
import { readJson, writeJsonAtomic } from '../../node/files.ts';
import { isTaskId, type JournalEntry } from './journal.ts';
import { recordEnd } from './task-records.ts';
import { runRequest, taskOf, type CapabilityRequest } from './run-request.ts';
import type { TaskContext } from './task-context.ts';
import type { SecureSession } from '../../shared/session/session.ts';

/** Pages of records read in one sync (500 each); the rest waits for the next one. */
const PAGES_PER_SYNC = 20;
/** Records remembered by version (replay protection); the oldest are forgotten past this. */
const MAX_VERSIONS = 50_000;
/** Verified records waiting for a keyring epoch this agent does not hold yet. */
const MAX_PENDING = 2000;
/** Results kept until the store takes them. */
const MAX_OUTBOX = 5000;
/** Tasks started in one sync. */
const STARTS_PER_SYNC = 64;

/** What the mailbox needs of the agent: the same things a live request's handler gets. */
export type MailboxShared = Omit<TaskContext, 'session' | 'device' | 'signal' | 'send' | 'output' | 'onFollowUp'>;

export interface MailboxOptions extends MailboxShared {
  /** The signaling server's URL. */
  signalUrl: string;
  http?: HttpFetch;
  /** Asks the signaling server for a newer revocation list before reading (the agent's poll). */
  refreshRevocation?: () => Promise<void>;
  now?: () => number;
  /** Called after a sync that added, changed or deleted a kept document (KEPT_DOCS: jobs, alert rules…). */
  onDocuments?: () => void;
}

/**
 * Document types the mailbox keeps as read (with their signer) for the agent's managers (the
 * job scheduler, the alert evaluator) to read through `documents(type)`. A document is kept by
 * record id; the newest verified version replaces the older, a deleted one stays as written (its
 * own `deleted` flag says so), so a manager sees removals too.
 */
export const KEPT_DOCS = ['job', 'alert', 'channel', 'silence', 'pushsub'] as const satisfies readonly Payload['type'][];
export type KeptType = (typeof KEPT_DOCS)[number];

/** A kept document with the device that signed it. */
export interface KeptDoc<T extends Payload = Payload> {
  rid: string;
  version: number;
  payload: T;
  signer: { id: string; role: string; name: string };
}

/** A task this host is to run, as opened from the store. */
interface Waiting {
  rid: string;
  doc: TaskDoc;
  device: DeviceCertBody;
}

/** A result the store has not taken yet; sealed at each attempt (to the devices' keyring once there is one). */
interface Outgoing {
  result: ResultDoc;
  /** The device that signed the task: the result is sealed to it when the fleet has no devices keyring yet. */
  device: { id: string; encPub: string };
}

interface MailboxFile {
  v: 1;
  since: number;
  /** rid → newest version and its signature. */
  versions: Record<string, { version: number; sig: string }>;
  keyrings: Partial<Record<Scope, StoredRecord>>;
  pending: StoredRecord[];
  waiting: Record<string, Waiting>;
  outbox: Record<string, Outgoing>;
  /** Task ids whose result the store holds. */
  delivered: string[];
  selectors: Record<string, string>;
  /** Kept documents (KEPT_DOCS) by record id. */
  docs: Record<string, KeptDoc>;
  /** The operators' decision about this host (tags and region set for it). */
  host?: { tags?: Record<string, string>; region?: string; decision: string };
}

function empty(): MailboxFile {
  return { v: 1, since: 0, versions: {}, keyrings: {}, pending: [], waiting: {}, outbox: {}, delivered: [], selectors: {}, docs: {} };
}

function restore(raw: unknown): MailboxFile {
  if (!isObj(raw) || raw['v'] !== 1) return empty();
  const f = raw as unknown as MailboxFile;
  const rec = <T>(v: unknown): Record<string, T> => (isObj(v) ? (v as Record<string, T>) : {});
  return {
    v: 1,
    since: Number.isSafeInteger(f.since) && f.since >= 0 ? f.since : 0,
    versions: rec(f.versions),
    keyrings: rec(f.keyrings),
    pending: Array.isArray(f.pending) ? f.pending : [],
    waiting: rec(f.waiting),
    outbox: rec(f.outbox),
    delivered: Array.isArray(f.delivered) ? f.delivered.filter((t) => typeof t === 'string') : [],
    selectors: rec(f.selectors),
    docs: rec(f.docs),
    ...(isObj(f.host) ? { host: f.host } : {}),
  };
}

export interface Mailbox {
  /** Reads the state file and opens the keyrings it keeps (the first sync does it too). */
  load(): Promise<void>;
  /** Reads the store now (or once more after the sync under way); resolves when that sync ends. */
  sync(reason: string): Promise<void>;
  /** Tasks started from the store that are still running. */
  readonly running: number;
  /** Resolves when no queued task is running. */
  idle(): Promise<void>;
  /** The kept documents of one type as last read (verified when read), newest version of each record. */
  documents<T extends KeptType>(type: T): KeptDoc<Extract<Payload, { type: T }>>[];
  /** Cancels the queued tasks still running and waits for them (their results are kept for the next start). */
  stop(timeoutMs: number): Promise<void>;
  /** What the selector language sees of this host now (undefined before the host is accepted), with the fleet's saved selectors. */
  self(): Promise<{ host: SelectableHost; selectors: Map<string, string> } | undefined>;
  /**
   * Seals a payload for the fleet's devices as results are sealed, and stores it at `version` under
   * the record id its type and `name` give; resolves to the version stored. On `conflict` the
   * version the store holds is read from its answer and the next one written.
   */
  putForDevices(payload: Payload, name: string, version: number): Promise<number>;
  /** Hands a Web Push message, already encrypted for its subscription, to the signaling server's relay with this host's store credential. */
  relayPush(message: Parameters<typeof relayPush>[2]): Promise<RelayAnswer>;
  /** Hands an alert mail to the signaling server's mail relay (a `via: server` email channel) with this host's store credential. */
  relayMail(mail: RelayMail): Promise<void>;
}

/** What the selector language sees of a host: its facts, the tags it was started with and the operators' (their host document). */
export async function selectableSelf(
  id: string,
  agent: Pick<MailboxShared, 'config' | 'state'>,
  decided?: { tags?: Record<string, string>; region?: string },
): Promise<SelectableHost> {
  const ctx = { config: agent.config, state: agent.state } as unknown as TaskContext;
  const facts = (await factsHandler({ type: 'facts', id: 'mailbox' } as never, ctx)).data;
  return {
    id,
    hostname: facts?.hostname ?? hostname(),
    os: facts?.os ?? process.platform,
    region: decided?.region ?? facts?.region,
    tags: { ...(facts?.tags ?? {}), ...(decided?.tags ?? {}) },
    online: true,
    ips: facts?.ips ?? [],
    distro: facts?.distro,
    distroVersion: facts?.distroVersion,
    arch: facts?.arch,
  };
}

/** A session-less stand-in for the tasks that came from the store: nobody follows their output live. */
const NO_SESSION = {
  closed: false,
  send: async () => undefined,
  onMessage: () => undefined,
  onBadMessage: () => undefined,
  onClose: () => undefined,
  close: () => undefined,
  path: async () => undefined,
  onPathChange: () => undefined,
} as unknown as SecureSession;

export function createMailbox(options: MailboxOptions): Mailbox {
  const { state, journal, audit, log } = options;
  const now = options.now ?? Date.now;
  const path = join(state.dir, 'mailbox.json');
  let file = empty();
  const rings: Partial<Record<Scope, { envelope: Envelope; keys: Map<number, CryptoKey> }>> = {};
  const running = new Map<string, Promise<void>>();
  const aborts = new Map<string, AbortController>();
  let current: Promise<void> | undefined;
  let again = false;
  let loading: Promise<void> | undefined;
  let stopped = false;
  let docsChanged = false;

  function member(): StoreMember | undefined {
    const e = state.enrollment;
    if (!e?.hostCert || !e.fleetPub) return undefined;
    return {
      id: state.identity.id,
      keys: state.identity.keys,
      pub: state.identity.pub,
      kind: 'agent',
      fleetId: e.fleet,
      fleetPub: e.fleetPub,
      cert: e.hostCert,
    };
  }

  const trust = (m: StoreMember): FleetTrust => ({ fleetId: m.fleetId, fleetPub: m.fleetPub, revocation: state.revocation });
  const save = () => writeJsonAtomic(path, file, 0o600);

  function refuse(record: StoredRecord, reason: string, writer?: string): void {
    const by = writer ?? record.by ?? '';
    log('warn', 'store-refused', { rid: record.rid, writer: by.slice(0, 8), reason });
    audit.write({ device: by, request: 'store-refused', rid: record.rid, outcome: 'refused', code: 'bad-record', detail: reason.slice(0, 500), via: 'store' });
  }

  async function takeKeyring(m: StoreMember, scope: Scope, record: StoredRecord): Promise<void> {
    const { envelope } = await verifyRecord(record, trust(m));
    const ring = await openKeyring(envelope, { id: m.id, encPriv: m.keys.enc.privateKey });
    rings[scope] = { envelope, keys: ring ? await epochKeys(ring) : new Map() };
    file.keyrings[scope] = record;
  }

  function remember(rid: string, version: number, sig: string): void {
    delete file.versions[rid]; // re-inserted last: the oldest are first to go
    file.versions[rid] = { version, sig };
    const rids = Object.keys(file.versions);
    for (const old of rids.slice(0, Math.max(0, rids.length - MAX_VERSIONS))) delete file.versions[old];
  }

  /** Verifies and applies one record; false when it may open later (a keyring epoch not held yet). */
  async function take(m: StoreMember, record: StoredRecord, writer: { id?: string }): Promise<boolean> {
    // Results and device announcements are for the devices (to `@devices`, which the store lists to
    // device credentials only): if a store lists one here anyway, nothing here opens or acts on it.
    if (record.kind === 'result' || record.kind === 'announce') return true;
    const { envelope, signer } = await verifyRecord(record, trust(m));
    writer.id = signer.id; // verified: refusals from here on name the signer, not what the server says
    checkWriterRole(record.kind, signer);
    const seen = file.versions[record.rid];
    if (seen && record.version < seen.version)
      throw new FlotillaError('bad-record', `version ${record.version} is older than version ${seen.version} already read`);
    if (seen && record.version === seen.version) {
      if (seen.sig === envelope.sig) return true;
      throw new FlotillaError('bad-record', `a second, different version ${record.version}`);
    }
    if (record.kind === 'keyring') {
      const scope = envelope.pub?.scope;
      if (!scope || record.rid !== keyringRid(scope)) throw new FlotillaError('bad-record', 'a keyring under another record id');
      await takeKeyring(m, scope, record);
      remember(record.rid, record.version, envelope.sig);
      return true;
    }
    const opened = await openPayload(envelope, { id: m.id, encPriv: m.keys.enc.privateKey, scopeKey: (scope, epoch) => rings[scope]?.keys.get(epoch) });
    if (!opened) {
      // Sealed to a fleet epoch this agent is not a member of yet (an admin adds it): later.
      if (envelope.wraps.some((w) => w.to.startsWith('fleet#'))) return false;
      remember(record.rid, record.version, envelope.sig); // a devices-only document
      return true;
    }
    const payload = parsePayload(opened.payload);
    if (PLACEMENT[payload.type].kind !== record.kind) throw new FlotillaError('bad-record', `a ${payload.type} payload in a ${record.kind} record`);
    if (payload.type === 'task') {
      if (payload.window ? payload.host !== undefined : payload.host !== m.id) throw new FlotillaError('bad-record', 'a task for another host');
      const device = envelope.signer.body as DeviceCertBody;
      file.waiting[record.rid] = { rid: record.rid, doc: payload, device };
    } else if (payload.type === 'selector') {
      if (payload.deleted) delete file.selectors[payload.name];
      else file.selectors[payload.name] = payload.expr;
    } else if (payload.type === 'host' && payload.host === m.id) {
      file.host = { decision: payload.decision, ...(payload.tags ? { tags: payload.tags } : {}), ...(payload.region ? { region: payload.region } : {}) };
      docsChanged = true; // the operators' tags for this host: kept documents' targets are evaluated again
    } else if ((KEPT_DOCS as readonly string[]).includes(payload.type)) {
      file.docs[record.rid] = {
        rid: record.rid,
        version: record.version,
        payload,
        signer: { id: signer.id, role: signer.role ?? 'viewer', name: signer.name ?? '' },
      };
      docsChanged = true;
    }
    remember(record.rid, record.version, envelope.sig);
    return true;
  }

  async function takeOrPend(m: StoreMember, record: StoredRecord): Promise<void> {
    const writer: { id?: string } = {};
    try {
      if (await take(m, record, writer)) return;
      file.pending = [...file.pending.filter((p) => p.rid !== record.rid), record].slice(-MAX_PENDING);
    } catch (error) {
      refuse(record, error instanceof FlotillaError ? (error.detail ?? error.message) : String(error), writer.id);
    }
  }

  /** Reads at most PAGES_PER_SYNC pages; true when the store has more. */
  async function pull(m: StoreMember): Promise<boolean> {
    for (let page = 0; page < PAGES_PER_SYNC; page++) {
      const { records, next, more } = await storeList(options.signalUrl, m, file.since, undefined, options.http);
      // Keyrings first: a page may hold a task sealed with an epoch its keyring brings.
      for (const record of [...records.filter((r) => r.kind === 'keyring'), ...records.filter((r) => r.kind !== 'keyring')]) await takeOrPend(m, record);
      file.since = next;
      if (file.pending.length > 0) {
        const pending = file.pending;
        file.pending = [];
        for (const record of pending) await takeOrPend(m, record);
      }
      await save();
      if (!more || records.length === 0) return false;
    }
    return true;
  }

  const self = (m: StoreMember): Promise<SelectableHost> => selectableSelf(m.id, options, file.host);

  function resultOf(m: StoreMember, task: string, entry: JournalEntry): ResultDoc {
    const output = entry.stderr ? `${entry.stdout}${entry.stdout && !entry.stdout.endsWith('\n') ? '\n' : ''}${entry.stderr}` : entry.stdout;
    const error = entry.error ? `${entry.error.code}${entry.error.detail ? `: ${entry.error.detail}` : ''}`.slice(0, 1024) : undefined;
    return {
      type: 'result',
      task,
      host: m.id,
      hostname: hostname().slice(0, 255),
      status: entry.status,
      ...(entry.exitCode === undefined ? {} : { exit: entry.exitCode }),
      output: clipOutput(output),
      ...(error ? { error } : {}),
      startedAt: entry.startedAt,
      endedAt: entry.endedAt ?? now(),
      at: now(),
    };
  }

  /** Refuses a task (audit and log); it is dropped. */
  function refuseTask(w: Waiting, code: string, detail: string): void {
    delete file.waiting[w.rid];
    log('warn', 'store-task-refused', { task: w.doc.task, device: w.device.id.slice(0, 8), code, detail });
    audit.write({
      device: w.device.id,
      deviceName: w.device.name,
      role: w.device.role,
      request: String(w.doc.request['type'] ?? 'task').slice(0, 32),
      task: w.doc.task,
      rid: w.rid,
      outcome: 'refused',
      code,
      detail,
      via: 'store',
    });
  }

  /** The capability request a task carries, parsed by its spec; throws a sentence. */
  function requestOf(doc: TaskDoc): { spec: Spec; request: CapabilityRequest; body?: Uint8Array } {
    const type = doc.request['type'];
    const spec = typeof type === 'string' ? capabilityOfRequest(type) : undefined;
    if (!spec) throw new FlotillaError('bad-message', `no capability answers ${String(type).slice(0, 32)}`);
    // Only what runs unattended: journaled, and nothing the controller sends after the request,
    // except a push whose file travels inside the task (`content`, base64, the chunks it replaces).
    const { attach: _attach, window: _window, content, ...fields } = doc.request;
    const inline = spec.name === 'push' && typeof content === 'string' ? fromBase64(content) : undefined;
    if (spec.name === 'push' && content !== undefined && !inline) throw new FlotillaError('bad-message', 'content is not base64');
    if (!spec.traits?.journaled || ((spec as { followUps?: object }).followUps && !inline))
      throw new FlotillaError('unsupported', `${spec.name} cannot run from the store`);
    const request = { ...spec.request.parse({ ...fields, id: 'store' }), type: spec.request.type, id: `store-${doc.task}` } as unknown as CapabilityRequest;
    if (taskOf(spec, request) !== doc.task) throw new FlotillaError('bad-message', 'the request names another task id');
    return { spec, request, ...(inline ? { body: inline } : {}) };
  }

  /** Decides each waiting task: result from the journal, refused, skipped, or started. */
  async function dispatch(m: StoreMember): Promise<void> {
    let host: SelectableHost | undefined;
    let started = 0;
    const delivered = new Set(file.delivered);
    for (const w of Object.values(file.waiting)) {
      const t = w.doc;
      if (running.has(t.task)) continue;
      if (delivered.has(t.task) || file.outbox[t.task]) {
        delete file.waiting[w.rid];
        continue;
      }
      if (!isTaskId(t.task)) {
        refuseTask(w, 'bad-message', 'task ids are 1-64 letters, digits, dot, dash or underscore');
        continue;
      }
      const known = journal.get(t.task);
      if (known) {
        if (known.status === 'running') continue; // a live run of the same id: its result when it ends
        file.outbox[t.task] = { result: resultOf(m, t.task, known), device: { id: w.device.id, encPub: w.device.encPub } };
        delete file.waiting[w.rid];
        continue;
      }
      if (t.cancelled) {
        log('info', 'store-task-cancelled', { task: t.task });
        delete file.waiting[w.rid];
        continue;
      }
      if (now() > t.deadline) {
        refuseTask(w, 'timeout', `its deadline passed (${new Date(t.deadline).toISOString()})`);
        continue;
      }
      if (t.window) {
        try {
          host ??= await self(m);
          if (!matchesSelector(parseSelector(t.selector), host, new Map(Object.entries(file.selectors)))) {
            delete file.waiting[w.rid];
            continue;
          }
        } catch (error) {
          // A selector naming a saved selector this host cannot read yet, say: tried again next sync.
          log('warn', 'store-selector-unresolved', { task: t.task, error: error instanceof FlotillaError ? error.detail : String(error) });
          continue;
        }
      }
      let parsed: { spec: Spec; request: CapabilityRequest; body?: Uint8Array };
      try {
        parsed = requestOf(t);
      } catch (error) {
        const failure = error instanceof FlotillaError ? error : new FlotillaError('bad-message', String(error));
        refuseTask(w, failure.code, failure.detail ?? failure.message);
        continue;
      }
      if (!roleAllows(w.device.role as Role, parsed.request.type, parsed.request)) {
        refuseTask(w, 'forbidden', `a ${w.device.role} may not send ${parsed.request.type}`);
        continue;
      }
      // The rest starts when a running one ends (start() syncs again then).
      if (running.size >= options.config.maxConcurrentTasks || started >= STARTS_PER_SYNC) continue;
      started++;
      start(m, w, parsed.spec, parsed.request, parsed.body);
    }
    await save();
  }

  function start(m: StoreMember, w: Waiting, spec: Spec, request: CapabilityRequest, body?: Uint8Array): void {
    const task = w.doc.task;
    const abort = new AbortController();
    aborts.set(task, abort);
    const ctx: TaskContext = {
      config: options.config,
      state,
      journal,
      audit,
      log,
      session: NO_SESSION,
      device: w.device,
      signal: abort.signal,
      send: async () => undefined,
      output: async () => undefined,
      // A queued push's file came inside the task: handed to the handler as one chunk and the end.
      onFollowUp: (handler) => {
        if (!body) return;
        queueMicrotask(() => {
          handler({ type: 'push.chunk', id: request.id, offset: 0 } as Message, body);
          handler({ type: 'push.end', id: request.id } as Message, new Uint8Array(0));
        });
      },
    };
    log('info', 'store-task-started', { task, device: w.device.id.slice(0, 8), by: w.device.name });
    const done = (async () => {
      const fields = await runRequest(ctx, spec, request, now(), 'store');
      await recordEnd(ctx, task, fields);
      const entry = journal.get(task);
      // Not journaled (the journal refused the id, say): the reason is the result.
      const ended: JournalEntry = entry ?? {
        task,
        op: spec.name,
        status: fields.status,
        device: w.device.id,
        summary: '',
        startedAt: fields.startedAt ?? now(),
        endedAt: now(),
        stdout: '',
        stderr: '',
        truncated: false,
        ...(fields.error ? { error: fields.error } : {}),
      };
      file.outbox[task] = { result: resultOf(m, task, ended), device: { id: w.device.id, encPub: w.device.encPub } };
      delete file.waiting[w.rid];
      log('info', 'store-task-ended', { task, status: ended.status });
      await save();
      await flush(m);
    })()
      .catch((error: unknown) => log('error', 'store-task-crashed', { task, error: (error as Error).message }))
      .finally(() => {
        running.delete(task);
        aborts.delete(task);
        if (Object.keys(file.waiting).length > 0) void mailbox.sync('task-ended');
      });
    running.set(task, done);
  }

  /** A record of `payload` sealed for the fleet's devices (their keyring; `fallback` members when the fleet has none yet). */
  async function sealForDevices(
    m: StoreMember,
    payload: Payload,
    name: string,
    version: number,
    fallback: { id: string; encPub: string }[],
  ): Promise<StoredRecord> {
    const devices = file.keyrings.devices ? rings.devices?.envelope : undefined;
    if (!devices && fallback.length === 0) throw new FlotillaError('bad-config', 'the fleet has no devices keyring yet');
    const recipients: Recipients = devices ? { scopes: [await scopeSealKey(devices)] } : { direct: fallback };
    const place = PLACEMENT[payload.type];
    const { record } = await sealRecord(
      { keys: m.keys, cert: m.cert },
      { fleet: m.fleetId, rid: await opaqueRid(place.prefix, m.fleetId, name), kind: place.kind, version, to: [DEVICES], payload, recipients, now: now() },
    );
    return record;
  }

  /** Stores the results waiting in the outbox; those the store does not take stay for the next sync. */
  async function flush(m: StoreMember): Promise<void> {
    for (const [task, out] of Object.entries(file.outbox)) {
      try {
        const record = await sealForDevices(m, out.result, `${task}:${m.id}`, 1, [out.device]);
        try {
          await storePut(options.signalUrl, m, record, options.http);
        } catch (error) {
          // Already stored (by this agent before a restart): nothing more to do.
          if (!(error instanceof FlotillaError && error.code === 'conflict')) throw error;
        }
        delete file.outbox[task];
        file.delivered = [...file.delivered.filter((t) => t !== task), task].slice(-MAX_OUTBOX);
        log('info', 'store-result-stored', { task, status: out.result.status });
      } catch (error) {
        log('warn', 'store-result-not-stored', { task, error: error instanceof FlotillaError ? `${error.code}: ${error.detail ?? ''}` : String(error) });
        // Many agents back at once meet the fleet's write rate: try again in a few seconds, spread
        // out; a server that is down or full, in a minute or so. The rest waits with it.
        retrySoon(error instanceof FlotillaError && error.code === 'rate-limited' ? 1000 + Math.random() * 4000 : 30_000 + Math.random() * 30_000);
        break;
      }
    }
    const kept = Object.keys(file.outbox);
    for (const old of kept.slice(0, Math.max(0, kept.length - MAX_OUTBOX))) delete file.outbox[old];
    await save();
  }

  async function load(): Promise<void> {
    // Unreadable: read the store again from the start (the journal still keeps each task id to one run).
    const raw = await readJson(path, 'the store mailbox').catch((error: unknown) => log('warn', 'store-mailbox-unreadable', { path, error: String(error) }));
    file = restore(raw);
    const m = member();
    if (!m) return;
    for (const scope of ['fleet', 'devices'] as const) {
      const record = file.keyrings[scope];
      if (!record) continue;
      try {
        await takeKeyring(m, scope, record);
      } catch (error) {
        delete file.keyrings[scope];
        log('warn', 'store-keyring-dropped', { scope, error: (error as Error).message });
      }
    }
  }

  let retry: NodeJS.Timeout | undefined;
  function retrySoon(ms: number): void {
    if (retry || stopped) return;
    retry = setTimeout(() => {
      retry = undefined;
      void mailbox.sync('retry');
    }, ms);
    retry.unref();
  }

  async function once(reason: string): Promise<void> {
    await mailbox.load();
    const m = member();
    if (!m || stopped) return;
    log('debug', 'store-sync', { reason, since: file.since });
    try {
      await options.refreshRevocation?.();
      if (await pull(m)) again = true;
      if (docsChanged) {
        docsChanged = false;
        options.onDocuments?.();
      }
    } catch (error) {
      log('warn', 'store-sync-failed', { reason, error: error instanceof FlotillaError ? `${error.code}: ${error.detail ?? ''}` : String(error) });
      retrySoon(error instanceof FlotillaError && error.code === 'rate-limited' ? 1000 + Math.random() * 4000 : 30_000 + Math.random() * 30_000);
    }
    // Tasks already read run, and results wait no longer, even when the store could not be read.
    // A state file that cannot be written (a full disk) is logged and tried again: never a crash.
    try {
      await dispatch(m);
      await flush(m);
    } catch (error) {
      log('error', 'store-mailbox-failed', { reason, error: error instanceof FlotillaError ? `${error.code}: ${error.detail ?? ''}` : String(error) });
      retrySoon(30_000 + Math.random() * 30_000);
    }
  }

  const mailbox: Mailbox = {
    get running() {
      return running.size;
    },
    load() {
      loading ??= load();
      return loading;
    },
    sync(reason) {
      if (current) {
        again = true;
        return current;
      }
      const run = async () => {
        do {
          again = false;
          await once(reason);
        } while (again && member());
      };
      current = run().finally(() => {
        current = undefined;
      });
      return current;
    },
    documents(type) {
      return Object.values(file.docs).filter((d) => d.payload.type === type) as never;
    },
    async idle() {
      while (running.size > 0 || current) await Promise.allSettled([...running.values(), current]);
    },
    async self() {
      await mailbox.load();
      const m = member();
      return m ? { host: await self(m), selectors: new Map(Object.entries(file.selectors)) } : undefined;
    },
    async putForDevices(payload, name, version) {
      await mailbox.load();
      const m = member();
      if (!m) throw new FlotillaError('bad-config', 'this host is not accepted yet');
      let at = version;
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await storePut(options.signalUrl, m, await sealForDevices(m, payload, name, at, []), options.http);
          return at;
        } catch (error) {
          // Written before (by this agent before a restart that lost its count): the store says its version ("is at version N", or "stored version is N").
          const held = error instanceof FlotillaError && error.code === 'conflict' ? /version (?:is )?(\d+)/.exec(error.detail ?? error.message) : null;
          if (!held) throw error;
          at = Number(held[1]) + 1;
        }
      }
      throw new FlotillaError('conflict', `${payload.type} ${name}: the store kept answering conflict`);
    },
    async relayPush(message) {
      await mailbox.load();
      const m = member();
      if (!m) throw new FlotillaError('bad-config', 'this host is not accepted yet');
      return relayPush(options.signalUrl, m, message, options.http);
    },
    async relayMail(mail) {
      await mailbox.load();
      const m = member();
      if (!m) throw new FlotillaError('bad-config', 'this host is not accepted yet');
      return relayMail(options.signalUrl, m, mail, options.http);
    },
    async stop(timeoutMs) {
      clearTimeout(retry);
      stopped = true;
      for (const abort of aborts.values()) abort.abort();
      await Promise.race([Promise.allSettled([...running.values()]), new Promise((r) => setTimeout(r, timeoutMs))]);
    },
  };
  return mailbox;
}
