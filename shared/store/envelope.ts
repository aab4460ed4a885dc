// Sealed store records: what a device or an agent leaves at the signaling server's store, for
// readers that are not connected now. The server keeps the outer fields (rid, kind, version,
// recipients, expiry) and this envelope as opaque bytes. The envelope repeats the outer fields
// in a header signed by the writer, whose certificate chains to the fleet key, so a record that
// the server flipped, moved to another rid, fleet or recipient, or replayed at an older version
// fails to open. The payload is AES-256-GCM under a fresh content key, wrapped (RSA-OAEP) for
// each direct recipient and for each scope epoch key (shared/store/keyring.ts).

import { FlotillaError } from '../wire/errors.ts';
import { canonicalJson, fromBase64, fromUtf8, toBase64, utf8 } from '../wire/encoding.ts';
import { int, isObj, obj, oneOf, optInt, parseJson, str, type Obj } from '../wire/validate.ts';
import { importVerifyKey, importWrapKey, randomBytes, signText, subtle, unwrap, verifyText, wrapFor, type IdentityKeys } from '../identity/crypto.ts';
import {
  parseDeviceCert,
  parseHostCert,
  verifyDeviceCert,
  verifyHostCert,
  type DeviceCert,
  type HostCert,
  type RevocationList,
  type Role,
} from '../identity/certs.ts';

/** What a record is, as the server sees it. */
export const RECORD_KINDS = ['keyring', 'doc', 'task', 'result', 'announce'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];
/** The key scopes: `fleet` (accepted hosts and devices) and `devices` (devices only). */
export const SCOPES = ['fleet', 'devices'] as const;
export type Scope = (typeof SCOPES)[number];

/** Largest envelope (the server's body limit). */
export const MAX_RECORD_BYTES = 256 * 1024;
/** Most recipients of one record (the server's limit). */
export const MAX_RECIPIENTS = 1000;
/** Recipients meaning every member of the fleet. */
export const EVERYONE = '*';
/** A recipient meaning every device of the fleet: the store lists the record to device credentials only. */
export const DEVICES = '@devices';
const ID = /^[a-z2-7]{52}$/;
const RID = /^[A-Za-z0-9._:-]{1,64}$/;

/** A record as the server stores and returns it. */
export interface StoredRecord {
  rid: string;
  kind: RecordKind;
  version: number;
  to: string[];
  exp?: number;
  /** Base64 of the envelope's JSON. */
  body: string;
  /** Added by the server. */
  seq?: number;
  by?: string;
  size?: number;
  at?: number;
}

/** A content key wrapped for a member id or a scope epoch (`fleet#3`). */
export interface Wrap {
  to: string;
  key: string;
}

/** A scope epoch's public key, published in a keyring's header so that non-members can seal for it. */
export interface ScopePub {
  scope: Scope;
  epoch: number;
  key: string;
}

export interface EnvelopeHeader {
  v: 1;
  fleet: string;
  rid: string;
  kind: RecordKind;
  version: number;
  to: string[];
  exp?: number;
  iat: number;
  signer: DeviceCert | HostCert;
  /** Only keyrings: the epoch's public key, readable by anyone. */
  pub?: ScopePub;
  wraps: Wrap[];
  iv: string;
}

export interface Envelope extends EnvelopeHeader {
  ct: string;
  sig: string;
}

/** Who writes: their keys and their certificate (device or host). */
export interface Writer {
  keys: IdentityKeys;
  cert: DeviceCert | HostCert;
}

/** What a record is sealed for. */
export interface Recipients {
  /** Members who open it with their own key (id and base64 SPKI RSA-OAEP key). */
  direct?: { id: string; encPub: string }[];
  /** Scope epochs whose members open it. */
  scopes?: { scope: Scope; epoch: number; key: CryptoKey }[];
}

export interface SealInput {
  fleet: string;
  rid: string;
  kind: RecordKind;
  version: number;
  to: string[];
  exp?: number;
  payload: unknown;
  recipients: Recipients;
  pub?: ScopePub;
  /** Reuse a content key (a keyring adding members keeps its key); fresh otherwise. */
  contentKey?: Uint8Array;
  now?: number;
}

/** Checks the outer fields a writer chose (the server checks the same). */
export function checkOuter(rid: string, version: number, to: readonly string[]): void {
  if (!RID.test(rid)) throw new FlotillaError('bad-message', 'a record id is 1 to 64 of A-Z a-z 0-9 . _ : -');
  if (!Number.isSafeInteger(version) || version < 1) throw new FlotillaError('bad-message', 'a record version is an integer of at least 1');
  const everyone = to.length === 1 && to[0] === EVERYONE;
  if (!everyone && (to.length === 0 || to.length > MAX_RECIPIENTS || !to.every((id) => ID.test(id) || id === DEVICES))) {
    throw new FlotillaError('bad-message', `recipients are ["*"] or 1 to ${MAX_RECIPIENTS} ids (or "@devices")`);
  }
}

function headerText(header: EnvelopeHeader, ct: string): string {
  return canonicalJson({ ...header, ct });
}

async function aes(raw: Uint8Array, usage: KeyUsage): Promise<CryptoKey> {
  return subtle().importKey('raw', new Uint8Array(raw), { name: 'AES-GCM' }, false, [usage]);
}

/** Seals and signs a record; returns what to store and the content key (for keyrings that add members later). */
export async function sealRecord(writer: Writer, input: SealInput): Promise<{ record: StoredRecord; envelope: Envelope; contentKey: Uint8Array }> {
  checkOuter(input.rid, input.version, input.to);
  const contentKey = input.contentKey ?? randomBytes(32);
  const wraps: Wrap[] = [];
  for (const member of input.recipients.direct ?? []) {
    wraps.push({ to: member.id, key: toBase64(await wrapFor(await importWrapKey(member.encPub), contentKey)) });
  }
  for (const scope of input.recipients.scopes ?? []) {
    wraps.push({ to: `${scope.scope}#${scope.epoch}`, key: toBase64(await wrapFor(scope.key, contentKey)) });
  }
  if (wraps.length === 0) throw new FlotillaError('bad-message', 'a sealed record needs at least one recipient key');
  const iv = randomBytes(12);
  const header: EnvelopeHeader = {
    v: 1,
    fleet: input.fleet,
    rid: input.rid,
    kind: input.kind,
    version: input.version,
    to: [...input.to],
    ...(input.exp === undefined ? {} : { exp: input.exp }),
    iat: input.now ?? Date.now(),
    signer: writer.cert,
    ...(input.pub ? { pub: input.pub } : {}),
    wraps,
    iv: toBase64(iv),
  };
  const aad = utf8(canonicalJson(header));
  const plaintext = utf8(JSON.stringify(input.payload));
  const ct = toBase64(
    new Uint8Array(
      await subtle().encrypt(
        { name: 'AES-GCM', iv: new Uint8Array(iv), additionalData: new Uint8Array(aad) },
        await aes(contentKey, 'encrypt'),
        new Uint8Array(plaintext),
      ),
    ),
  );
  const sig = await signText(writer.keys.sign.privateKey, headerText(header, ct));
  const envelope: Envelope = { ...header, ct, sig };
  const body = toBase64(utf8(JSON.stringify(envelope)));
  if (body.length > (MAX_RECORD_BYTES * 4) / 3) throw new FlotillaError('too-large', `a sealed record is over ${MAX_RECORD_BYTES} bytes`);
  const record: StoredRecord = {
    rid: input.rid,
    kind: input.kind,
    version: input.version,
    to: [...input.to],
    ...(input.exp === undefined ? {} : { exp: input.exp }),
    body,
  };
  return { record, envelope, contentKey };
}

function parseWraps(o: Obj): Wrap[] {
  const raw = o['wraps'];
  if (!Array.isArray(raw) || raw.length > MAX_RECIPIENTS + 4) throw new FlotillaError('bad-message', 'wraps must be a list');
  return raw.map((w: unknown) => {
    const x = obj(w, 'wrap');
    return { to: str(x, 'to', 64, 1), key: str(x, 'key', 1024, 1) };
  });
}

function parseSigner(raw: unknown): DeviceCert | HostCert {
  const kind = isObj(raw) && isObj(raw['body']) ? raw['body']['kind'] : undefined;
  if (kind === 'device') return parseDeviceCert(raw);
  if (kind === 'host') return parseHostCert(raw);
  throw new FlotillaError('bad-message', 'the signer is neither a device nor a host certificate');
}

/** Validates an envelope's shape (not its signature). */
export function parseEnvelope(raw: unknown): Envelope {
  const o = obj(raw, 'envelope');
  if (o['v'] !== 1) throw new FlotillaError('bad-message', 'not a version 1 envelope');
  const to = o['to'];
  if (!Array.isArray(to) || !to.every((x) => typeof x === 'string')) throw new FlotillaError('bad-message', 'to must be a list of ids');
  const exp = optInt(o, 'exp');
  let pub: ScopePub | undefined;
  if (o['pub'] !== undefined) {
    const p = obj(o['pub'], 'pub');
    pub = { scope: oneOf(p, 'scope', SCOPES), epoch: int(p, 'epoch', 1), key: str(p, 'key', 1200, 1) };
  }
  const header: EnvelopeHeader = {
    v: 1,
    fleet: str(o, 'fleet', 52, 52),
    rid: str(o, 'rid', 64, 1),
    kind: oneOf(o, 'kind', RECORD_KINDS),
    version: int(o, 'version', 1),
    to: to as string[],
    ...(exp === undefined ? {} : { exp }),
    iat: int(o, 'iat'),
    signer: parseSigner(o['signer']),
    ...(pub ? { pub } : {}),
    wraps: parseWraps(o),
    iv: str(o, 'iv', 24, 16),
  };
  checkOuter(header.rid, header.version, header.to);
  return { ...header, ct: str(o, 'ct', MAX_RECORD_BYTES * 2, 0), sig: str(o, 'sig', 1024, 1) };
}

/** Decodes a stored body into an envelope, validating its shape. */
export function decodeBody(body: string): Envelope {
  const bytes = fromBase64(body);
  if (!bytes) throw new FlotillaError('bad-record', 'the record body is not base64');
  if (bytes.length > MAX_RECORD_BYTES) throw new FlotillaError('bad-record', `the record is over ${MAX_RECORD_BYTES} bytes`);
  try {
    return parseEnvelope(parseJson(fromUtf8(bytes), MAX_RECORD_BYTES));
  } catch (error) {
    throw new FlotillaError('bad-record', error instanceof FlotillaError ? (error.detail ?? error.message) : 'the record is not an envelope');
  }
}

/** The writer of a verified record. */
export interface RecordSigner {
  id: string;
  kind: 'device' | 'host';
  /** Devices only. */
  role?: Role;
  name?: string;
  encPub: string;
}

/** What opening needs to know about the fleet and the reader. */
export interface FleetTrust {
  fleetId: string;
  fleetPub: string;
  revocation?: RevocationList | undefined;
  now?: number;
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Verifies a stored record: the outer fields against the signed header, the signer's
 * certificate against the fleet key and the revocation list, and the signature. Throws
 * `bad-record` naming what failed. Does not decrypt (see openPayload).
 */
export async function verifyRecord(record: StoredRecord, fleet: FleetTrust): Promise<{ envelope: Envelope; signer: RecordSigner }> {
  const envelope = decodeBody(record.body);
  const moved =
    envelope.fleet !== fleet.fleetId
      ? 'fleet'
      : envelope.rid !== record.rid
        ? 'record id'
        : envelope.kind !== record.kind
          ? 'kind'
          : envelope.version !== record.version
            ? 'version'
            : !sameList(envelope.to, record.to)
              ? 'recipients'
              : // A record written without an expiry is kept for the server's maximum TTL, and listed with that expiry.
                envelope.exp !== undefined && envelope.exp !== record.exp
                ? 'expiry'
                : undefined;
  if (moved) throw new FlotillaError('bad-record', `the record's ${moved} differs from what its writer signed (moved or replayed)`);
  let signer: RecordSigner;
  try {
    if (envelope.signer.body.kind === 'device') {
      const body = await verifyDeviceCert(envelope.signer, fleet.fleetPub, fleet.fleetId, { revocation: fleet.revocation, now: fleet.now ?? envelope.iat });
      signer = { id: body.id, kind: 'device', role: body.role, name: body.name, encPub: body.encPub };
    } else {
      const cert = envelope.signer as HostCert;
      const body = await verifyHostCert(cert, fleet.fleetPub, fleet.fleetId, cert.body);
      if (fleet.revocation?.body.revoked.includes(body.id)) throw new FlotillaError('cert-revoked', 'the host was removed from the fleet');
      signer = { id: body.id, kind: 'host', encPub: body.encPub };
    }
  } catch (error) {
    throw new FlotillaError(
      'bad-record',
      `signer refused: ${error instanceof FlotillaError ? `${error.code}${error.detail ? ` (${error.detail})` : ''}` : 'invalid'}`,
    );
  }
  const { ct, sig, ...header } = envelope;
  const ok = await verifyText(await importVerifyKey(envelope.signer.body.signPub), sig, headerText(header, ct));
  if (!ok) throw new FlotillaError('bad-record', 'the signature does not verify (the record was changed)');
  return { envelope, signer };
}

/** Keys a reader may open with: its own identity and the scope epochs it holds. */
export interface ReaderKeys {
  id: string;
  encPriv: CryptoKey;
  scopeKey?: (scope: Scope, epoch: number) => CryptoKey | undefined;
}

/** Decrypts a verified envelope; undefined when nothing in it is wrapped for this reader. */
export async function openPayload(envelope: Envelope, reader: ReaderKeys): Promise<{ payload: unknown; contentKey: Uint8Array } | undefined> {
  let contentKey: Uint8Array | undefined;
  for (const wrap of envelope.wraps) {
    let priv: CryptoKey | undefined;
    if (wrap.to === reader.id) priv = reader.encPriv;
    else {
      const m = /^(fleet|devices)#(\d+)$/.exec(wrap.to);
      if (m) priv = reader.scopeKey?.(m[1] as Scope, Number(m[2]));
    }
    if (!priv) continue;
    const wrapped = fromBase64(wrap.key);
    if (!wrapped) throw new FlotillaError('bad-record', 'a wrapped key is not base64');
    try {
      contentKey = await unwrap(priv, wrapped);
    } catch {
      throw new FlotillaError('bad-record', `the key wrapped for ${wrap.to} does not open`);
    }
    break;
  }
  if (!contentKey) return undefined;
  const { ct, sig: _sig, ...header } = envelope;
  const bytes = fromBase64(ct);
  const iv = fromBase64(envelope.iv);
  if (!bytes || !iv || iv.length !== 12 || contentKey.length !== 32) throw new FlotillaError('bad-record', 'the ciphertext is malformed');
  let plain: Uint8Array;
  try {
    plain = new Uint8Array(
      await subtle().decrypt(
        { name: 'AES-GCM', iv: new Uint8Array(iv), additionalData: new Uint8Array(utf8(canonicalJson(header))) },
        await aes(contentKey, 'decrypt'),
        new Uint8Array(bytes),
      ),
    );
  } catch {
    throw new FlotillaError('bad-record', 'the ciphertext does not decrypt (tampered)');
  }
  try {
    return { payload: JSON.parse(fromUtf8(plain)) as unknown, contentKey };
  } catch {
    throw new FlotillaError('bad-record', 'the payload is not JSON');
  }
}

/** An opaque record id for a named thing: `prefix` + base32 of SHA-256(fleet, name), so the server learns no names. */
export async function opaqueRid(prefix: string, fleet: string, name: string): Promise<string> {
  const digest = new Uint8Array(await subtle().digest('SHA-256', new Uint8Array(utf8(`${fleet}\n${name}`))));
  let out = '';
  for (const b of digest.subarray(0, 20)) out += b.toString(16).padStart(2, '0');
  return `${prefix}.${out}`;
}

/** The least a signer must be for each kind of record; readers refuse others (a viewer's doc, a host's keyring). */
export function checkWriterRole(kind: RecordKind, signer: RecordSigner): void {
  const device = signer.kind === 'device';
  const rank = device ? { viewer: 0, operator: 1, admin: 2 }[signer.role ?? 'viewer'] : -1;
  const ok = kind === 'keyring' ? rank >= 2 : kind === 'doc' || kind === 'task' ? rank >= 1 : kind === 'result' ? !device || rank >= 1 : device; // announce: any device of the fleet
  if (!ok) {
    const who = device ? `a ${signer.role ?? 'viewer'} device` : 'a host';
    throw new FlotillaError('bad-record', `${who} may not write a ${kind} record`);
  }
}
