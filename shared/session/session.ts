// A secure session over one data channel: messages are framed (JSON header + binary body),
// fragmented to fit data-channel messages, sealed per direction, and sent with backpressure.

import { FlotillaError } from '../wire/errors.ts';
import { fromUtf8, utf8 } from '../wire/encoding.ts';
import { MAX_BODY_BYTES, MAX_HEADER_BYTES, parseMessage, type Message } from '../wire/protocol.ts';
import type { HandshakeResult, Hello } from './handshake.ts';
import type { LinkInbox } from './link-queue.ts';
import type { PathInfo, RawLink } from './transport.ts';
import { parseJson, isObj } from '../wire/validate.ts';

/** Plaintext bytes per record; sealed records stay well under every browser's message limit. */
export const FRAGMENT_BYTES = 60 * 1024;
const FLAG_WHOLE = 0;
const FLAG_MORE = 1;
const FLAG_LAST = 2;
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const MAX_MESSAGE = 4 + MAX_HEADER_BYTES + MAX_BODY_BYTES;

/** An authenticated, encrypted message channel to one peer. */
export interface SecureSession {
  readonly peer: Hello;
  readonly link: RawLink;
  readonly closed: boolean;
  /** Sends a message (and optional binary body); resolves once queued on the channel. */
  send(message: Message, body?: Uint8Array): Promise<void>;
  /** Sets the handler for valid messages. */
  onMessage(handler: (message: Message, body: Uint8Array) => void): void;
  /** Called for a well-sealed message that failed validation; `id` if one could be read. */
  onBadMessage(handler: (error: FlotillaError, id: string | undefined) => void): void;
  /** Called once when the session ends; `error` says why if it was not a normal close. */
  onClose(handler: (error: FlotillaError | undefined) => void): void;
  close(error?: FlotillaError): void;
  path(): Promise<PathInfo | undefined>;
  /** See RawLink.onPathChange; does nothing on links that cannot tell. */
  onPathChange(handler: () => void): void;
}

/** Encodes a message as [u32 header length][header JSON][body]. */
export function encodeFrame(message: Message, body: Uint8Array = new Uint8Array()): Uint8Array {
  const header = utf8(JSON.stringify(message));
  if (header.length > MAX_HEADER_BYTES) throw new FlotillaError('too-large', `message header of ${header.length} bytes`);
  if (body.length > MAX_BODY_BYTES) throw new FlotillaError('too-large', `message body of ${body.length} bytes`);
  const out = new Uint8Array(4 + header.length + body.length);
  new DataView(out.buffer).setUint32(0, header.length);
  out.set(header, 4);
  out.set(body, 4 + header.length);
  return out;
}

/** Decodes a frame; the header is validated by parseMessage. */
export function decodeFrame(frame: Uint8Array): { message: Message; body: Uint8Array } {
  if (frame.length < 4) throw new FlotillaError('bad-message', 'frame shorter than its length prefix');
  const headerLength = new DataView(frame.buffer, frame.byteOffset, frame.length).getUint32(0);
  if (headerLength > MAX_HEADER_BYTES || 4 + headerLength > frame.length) throw new FlotillaError('bad-message', 'bad header length');
  let text: string;
  try {
    text = fromUtf8(frame.subarray(4, 4 + headerLength));
  } catch {
    throw new FlotillaError('bad-message', 'header is not UTF-8');
  }
  const raw = parseJson(text, MAX_HEADER_BYTES);
  try {
    return { message: parseMessage(raw), body: frame.subarray(4 + headerLength) };
  } catch (error) {
    const id = isObj(raw) && typeof raw['id'] === 'string' ? raw['id'].slice(0, 64) : undefined;
    throw Object.assign(error as FlotillaError, { messageId: id });
  }
}

/** Wraps a link whose handshake completed. */
export function createSecureSession(link: RawLink, inbox: LinkInbox, handshake: HandshakeResult): SecureSession {
  let messageHandler: (message: Message, body: Uint8Array) => void = () => undefined;
  let badHandler: (error: FlotillaError, id: string | undefined) => void = () => undefined;
  const closeHandlers: ((error: FlotillaError | undefined) => void)[] = [];
  let closed = false;
  let sendChain: Promise<void> = Promise.resolve();
  let receiveChain: Promise<void> = Promise.resolve();
  let fragments: Uint8Array[] = [];
  let fragmentBytes = 0;

  function finish(error: FlotillaError | undefined): void {
    if (closed) return;
    closed = true;
    for (const handler of closeHandlers) handler(error);
  }

  async function sendRecords(plain: Uint8Array): Promise<void> {
    for (const record of await handshake.sealer.seal(plain)) {
      if (closed) throw new FlotillaError('channel-closed', 'session closed');
      if (link.bufferedAmount() > HIGH_WATER) await link.waitForDrain(LOW_WATER);
      link.send(record);
    }
  }

  async function sendFrame(frame: Uint8Array): Promise<void> {
    if (frame.length + 1 <= FRAGMENT_BYTES) {
      const plain = new Uint8Array(frame.length + 1);
      plain[0] = FLAG_WHOLE;
      plain.set(frame, 1);
      return sendRecords(plain);
    }
    for (let offset = 0; offset < frame.length; offset += FRAGMENT_BYTES - 1) {
      const piece = frame.subarray(offset, offset + FRAGMENT_BYTES - 1);
      const plain = new Uint8Array(piece.length + 1);
      plain[0] = offset + piece.length >= frame.length ? FLAG_LAST : FLAG_MORE;
      plain.set(piece, 1);
      await sendRecords(plain);
    }
  }

  function deliver(frame: Uint8Array): void {
    let decoded: { message: Message; body: Uint8Array };
    try {
      decoded = decodeFrame(frame);
    } catch (error) {
      const failure = error instanceof FlotillaError ? error : new FlotillaError('bad-message', String(error));
      badHandler(failure, (error as { messageId?: string }).messageId);
      return;
    }
    messageHandler(decoded.message, decoded.body);
  }

  async function receive(data: Uint8Array | string): Promise<void> {
    if (closed) return;
    if (typeof data === 'string') throw new FlotillaError('bad-seal', 'unsealed text after the handshake');
    const plain = await handshake.opener.open(data);
    if (plain === undefined) return; // rekey record
    const flag = plain[0];
    const piece = plain.subarray(1);
    if (flag === FLAG_WHOLE && fragments.length === 0) return deliver(piece);
    if (flag !== FLAG_MORE && flag !== FLAG_LAST) throw new FlotillaError('bad-message', `unexpected fragment flag ${flag}`);
    fragmentBytes += piece.length;
    if (fragmentBytes > MAX_MESSAGE) throw new FlotillaError('too-large', `fragmented message over ${MAX_MESSAGE} bytes`);
    fragments.push(piece);
    if (flag === FLAG_LAST) {
      const whole = new Uint8Array(fragmentBytes);
      let offset = 0;
      for (const part of fragments) {
        whole.set(part, offset);
        offset += part.length;
      }
      fragments = [];
      fragmentBytes = 0;
      deliver(whole);
    }
  }

  const session: SecureSession = {
    peer: handshake.peer,
    link,
    get closed() {
      return closed;
    },
    send(message, body) {
      if (closed) return Promise.reject(new FlotillaError('channel-closed', 'session closed'));
      const frame = encodeFrame(message, body);
      const result = sendChain.then(() => sendFrame(frame));
      sendChain = result.catch(() => undefined);
      return result;
    },
    onMessage(handler) {
      messageHandler = handler;
    },
    onBadMessage(handler) {
      badHandler = handler;
    },
    onClose(handler) {
      if (closed) handler(undefined);
      else closeHandlers.push(handler);
    },
    close(error) {
      finish(error);
      link.close();
    },
    path: () => link.path(),
    onPathChange: (handler) => link.onPathChange?.(handler),
  };

  inbox.onClose((reason) => finish(reason === 'closed' ? undefined : new FlotillaError('channel-closed', reason)));
  inbox.drainTo((data) => {
    receiveChain = receiveChain
      .then(() => receive(data))
      .catch((error: unknown) => {
        const failure = error instanceof FlotillaError ? error : new FlotillaError('bad-seal', String(error));
        session.close(failure);
      });
  });
  return session;
}
