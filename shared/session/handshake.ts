// The application handshake run on every data channel before any work (SECURITY-MODEL.md):
// hellos with keys and nonces, a transcript bound to both DTLS fingerprints as each side
// saw them, signatures, and per-direction AES keys wrapped with the peer's RSA-OAEP key.

import { FlotillaError, isErrorCode, type WireError } from '../wire/errors.ts';
import { bytesEqual, canonicalJson, concatBytes, fromBase64, toBase64, utf8 } from '../wire/encoding.ts';
import {
  generateAesKey,
  hmac,
  identityId,
  importAesKey,
  importVerifyKey,
  importWrapKey,
  randomBytes,
  sha256,
  sign,
  unwrap,
  verify,
  wrapFor,
  type IdentityKeys,
  type PublicKeys,
} from '../identity/crypto.ts';
import { createOpener, createSealer, type Opener, type RotationPolicy, type Sealer } from './seal.ts';
import type { RawLink } from './transport.ts';
import type { LinkInbox } from './link-queue.ts';
import { isObj, obj, oneOf, optStr, parseJson, str, int, type Obj } from '../wire/validate.ts';

/** Bumped on any incompatible change to the handshake or the messages. */
export const PROTOCOL_VERSION = 1;
const MAX_HANDSHAKE_MESSAGE = 64 * 1024;

export type HandshakeRole = 'device' | 'agent';

/** The first message each side sends. */
export interface Hello extends PublicKeys {
  t: 'hello';
  app: 'flotilla';
  v: number;
  role: HandshakeRole;
  id: string;
  nonce: string;
  fleet: string;
  /** Device: the fleet public key, its certificate and newest revocation list. */
  fleetPub?: string;
  cert?: unknown;
  revocation?: unknown;
  /** Agent: its host certificate, if the fleet accepted it. */
  hostCert?: unknown;
}

/** Proof that an agent holds a join token's secret, bound to this transcript. */
export interface JoinProof {
  tid: string;
  mac: string;
}

/** Everything one side brings to the handshake. */
export interface HandshakeOptions {
  role: HandshakeRole;
  keys: IdentityKeys;
  pub: PublicKeys;
  id: string;
  fleet: string;
  fleetPub?: string;
  cert?: unknown;
  revocation?: unknown;
  hostCert?: unknown;
  /** Agent: a join secret to prove, until it has a host certificate. */
  join?: { tid: string; secret: string } | undefined;
  /**
   * Role-specific checks of the peer's hello (certificate, fleet, pinning). Throw a
   * FlotillaError to refuse; the code is sent to the peer.
   */
  checkPeer: (hello: Hello) => Promise<void>;
  timeoutMs?: number;
  rotation?: RotationPolicy;
}

/** A completed handshake. */
export interface HandshakeResult {
  peer: Hello;
  transcript: Uint8Array;
  sealer: Sealer;
  opener: Opener;
  /** Agent's proof of a join token secret, verified by the device with verifyJoinProof. */
  join?: JoinProof;
}

/** Parses and validates a hello. */
export function parseHello(raw: unknown): Hello {
  const o = obj(raw, 'hello');
  if (o['t'] !== 'hello' || o['app'] !== 'flotilla')
    throw new FlotillaError('bad-message', `expected a Flotilla hello, got ${JSON.stringify(o).slice(0, 120)}`);
  const v = int(o, 'v', 0, 1_000_000);
  if (v !== PROTOCOL_VERSION) {
    throw new FlotillaError(
      'version-mismatch',
      `the peer (${String(o['role'])}) speaks protocol ${v}, this side ${PROTOCOL_VERSION}: upgrade the ${v < PROTOCOL_VERSION ? String(o['role']) : 'this side'}`,
    );
  }
  const fleetPub = optStr(o, 'fleetPub', 1200);
  const hello: Hello = {
    t: 'hello',
    app: 'flotilla',
    v,
    role: oneOf(o, 'role', ['device', 'agent'] as const),
    id: str(o, 'id', 52, 52),
    nonce: str(o, 'nonce', 64, 16),
    fleet: str(o, 'fleet', 52, 52),
    signPub: str(o, 'signPub', 1200, 1),
    encPub: str(o, 'encPub', 1200, 1),
    ...(fleetPub === undefined ? {} : { fleetPub }),
  };
  for (const key of ['cert', 'revocation', 'hostCert'] as const) {
    if (o[key] !== undefined) hello[key] = obj(o[key], key);
  }
  return hello;
}

/** The transcript hash both sides sign: both hellos and both DTLS fingerprints. */
export async function transcriptHash(device: Hello, agent: Hello, deviceFingerprint: string, agentFingerprint: string): Promise<Uint8Array> {
  return sha256(utf8(canonicalJson({ p: 'flotilla/handshake/1', device, agent, deviceFingerprint, agentFingerprint })));
}

function authBytes(role: HandshakeRole, transcript: Uint8Array, wrapped: Uint8Array, join: JoinProof | undefined): Uint8Array {
  return concatBytes(utf8(`flotilla/auth/${role}`), transcript, wrapped, utf8(join ? canonicalJson(join) : ''));
}

async function receiveJson(inbox: LinkInbox, timeoutMs: number): Promise<Obj> {
  const data = await inbox.next(timeoutMs);
  if (typeof data !== 'string') throw new FlotillaError('handshake-failed', 'expected a text handshake message');
  const o = obj(parseJson(data, MAX_HANDSHAKE_MESSAGE), 'handshake message');
  if (o['t'] === 'refuse') {
    const code = isErrorCode(o['code']) ? o['code'] : 'handshake-failed';
    const detail = typeof o['detail'] === 'string' ? o['detail'].slice(0, 500) : undefined;
    throw new FlotillaError(code, detail ? `refused by peer: ${detail}` : 'refused by peer');
  }
  return o;
}

/** Sends a refusal the peer can show, then closes. Never throws. */
export function refuse(link: RawLink, error: unknown): void {
  const wire: WireError =
    error instanceof FlotillaError ? { code: error.code, ...(error.detail ? { detail: error.detail } : {}) } : { code: 'handshake-failed' };
  try {
    link.send(JSON.stringify({ t: 'refuse', ...wire }));
  } catch {
    // The link is already gone; the peer learns from the close instead.
  }
  setTimeout(() => link.close(), 200);
}

/** Runs the handshake over `link`. Throws FlotillaError on any failure (after refusing). */
export async function runHandshake(link: RawLink, inbox: LinkInbox, options: HandshakeOptions): Promise<HandshakeResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const mine: Hello = {
    t: 'hello',
    app: 'flotilla',
    v: PROTOCOL_VERSION,
    role: options.role,
    id: options.id,
    nonce: toBase64(randomBytes(32)),
    fleet: options.fleet,
    ...options.pub,
    ...(options.fleetPub === undefined ? {} : { fleetPub: options.fleetPub }),
    ...(options.cert === undefined ? {} : { cert: options.cert }),
    ...(options.revocation === undefined ? {} : { revocation: options.revocation }),
    ...(options.hostCert === undefined ? {} : { hostCert: options.hostCert }),
  };
  try {
    link.send(JSON.stringify(mine));
    const peer = parseHello(await receiveJson(inbox, timeoutMs));
    if (peer.role === options.role) throw new FlotillaError('handshake-failed', `both sides claim to be a ${peer.role}`);
    if ((await identityId(peer)) !== peer.id) throw new FlotillaError('id-mismatch', `claimed ${peer.id.slice(0, 8)}`);
    if (peer.fleet !== options.fleet) throw new FlotillaError('not-in-fleet', `peer is in fleet ${peer.fleet.slice(0, 8)}`);
    await options.checkPeer(peer);

    const [device, agent] = options.role === 'device' ? [mine, peer] : [peer, mine];
    const [deviceFp, agentFp] = options.role === 'device' ? [link.localFingerprint, link.remoteFingerprint] : [link.remoteFingerprint, link.localFingerprint];
    const transcript = await transcriptHash(device, agent, deviceFp, agentFp);

    const sending = await generateAesKey();
    const wrapped = await wrapFor(await importWrapKey(peer.encPub), sending.raw);
    const join: JoinProof | undefined =
      options.role === 'agent' && options.join
        ? { tid: options.join.tid, mac: toBase64(await hmac(fromBase64(options.join.secret) ?? new Uint8Array(), transcript)) }
        : undefined;
    const signature = await sign(options.keys.sign.privateKey, authBytes(options.role, transcript, wrapped, join));
    link.send(JSON.stringify({ t: 'auth', key: toBase64(wrapped), sig: toBase64(signature), ...(join ? { join } : {}) }));

    const auth = await receiveJson(inbox, timeoutMs);
    if (auth['t'] !== 'auth') throw new FlotillaError('handshake-failed', 'expected the auth message');
    const peerWrapped = fromBase64(str(auth, 'key', 1024, 1));
    const peerSig = fromBase64(str(auth, 'sig', 1024, 1));
    if (!peerWrapped || !peerSig) throw new FlotillaError('handshake-failed', 'auth fields are not base64');
    let peerJoin: JoinProof | undefined;
    if (isObj(auth['join']) && peer.role === 'agent') {
      peerJoin = { tid: str(auth['join'], 'tid', 64, 1), mac: str(auth['join'], 'mac', 128, 1) };
    }
    const ok = await verify(await importVerifyKey(peer.signPub), peerSig, authBytes(peer.role, transcript, peerWrapped, peerJoin));
    // With genuine keys on both sides, a bad signature means the two transcripts differ:
    // the fingerprints each side saw were not the same, i.e. someone sits in the middle.
    if (!ok) throw new FlotillaError('binding-mismatch', 'the peer signed a different transcript');
    const receiving = await importAesKey(await unwrap(options.keys.enc.privateKey, peerWrapped));

    const [sendDir, recvDir] =
      options.role === 'device' ? (['device-to-agent', 'agent-to-device'] as const) : (['agent-to-device', 'device-to-agent'] as const);
    return {
      peer,
      transcript,
      sealer: createSealer(sending.key, sendDir, options.rotation),
      opener: createOpener(receiving, recvDir),
      ...(peerJoin ? { join: peerJoin } : {}),
    };
  } catch (error) {
    const failure = error instanceof FlotillaError ? error : new FlotillaError('handshake-failed', error instanceof Error ? error.message : String(error));
    if (failure.code !== 'channel-closed' && !failure.detail?.startsWith('refused by peer')) refuse(link, failure);
    else link.close();
    throw failure;
  }
}

/** Device side: checks a join proof against a token secret it issued. */
export async function verifyJoinProof(proof: JoinProof, secret: string, transcript: Uint8Array): Promise<boolean> {
  const expected = await hmac(fromBase64(secret) ?? new Uint8Array(), transcript);
  const got = fromBase64(proof.mac);
  return got !== undefined && bytesEqual(expected, got);
}
