// One error type for every side: a stable code plus a sentence written for the user.

/** Every error code Flotilla can report, with the sentence a user sees. */
export const ERROR_MESSAGES = {
  /** A message or document did not have the expected shape. */
  'bad-message': 'A peer sent a message Flotilla could not understand.',
  /** A message was larger than the configured limit. */
  'too-large': 'A message was larger than Flotilla allows.',
  /** The two sides speak incompatible protocol versions. */
  'version-mismatch': 'The two sides speak different Flotilla protocol versions; upgrade the older one.',
  /** The application handshake failed (signature, binding, keys). */
  'handshake-failed': 'The secure handshake failed; the connection was refused.',
  /** The channel binding did not match: someone rewrote the DTLS fingerprints. */
  'binding-mismatch': 'The DTLS fingerprints the two sides saw differ: the signaling server or the network is tampering with the connection.',
  /** An agent's id does not match the key it presented. */
  'id-mismatch': 'The agent presented a key that does not match its id: it is an impostor.',
  /** An agent presented a different key than the one pinned for it. */
  'key-mismatch': 'The agent presented a different key than the one this fleet accepted for it.',
  /** A sealed message failed authentication, was replayed or reordered. */
  'bad-seal': 'A sealed message was tampered with, replayed or reordered; the channel was closed.',
  /** The device certificate is not signed by the agent's fleet. */
  'not-in-fleet': "This device is not a member of the agent's fleet.",
  /** The device certificate has expired. */
  'cert-expired': "This device's certificate has expired; ask an admin to issue a new one.",
  /** The device certificate has been revoked. */
  'cert-revoked': 'This device has been revoked from the fleet.',
  /** The device's role does not allow the request. */
  forbidden: 'Your role does not allow this action.',
  /** Agent-local policy refused the request. */
  'policy-refused': "The agent's local policy refused this request.",
  /** A path is outside the agent's allowed roots. */
  'path-refused': 'That path is outside the directories this agent allows.',
  /** A file was not found or could not be read. */
  'file-error': 'The file could not be read or written.',
  /** What the request names (a process, a unit, an entry) does not exist on the host. */
  'not-found': 'What you asked for does not exist on that host.',
  /** The host lacks what the request needs (a service manager, a tool). */
  unsupported: 'That host does not support this request.',
  /** A checksum did not match after a transfer. */
  'checksum-mismatch': 'The file arrived damaged: its checksum does not match.',
  /** Join token is malformed, expired or revoked. */
  'bad-token': 'The join token is malformed, expired or revoked; create a new one.',
  /** A fleet backup is malformed, damaged or the passphrase is wrong. */
  'bad-backup': 'The fleet backup could not be opened.',
  /** Selector syntax error. */
  'bad-selector': 'The target selector could not be parsed.',
  /** No host matched a selector. */
  'no-match': 'No host matches that selector.',
  /** The peer could not be reached. */
  unreachable: 'The host could not be reached: it is offline or the network blocks the connection.',
  /** The signaling server could not be reached or refused us. */
  'signaling-failed': 'The signaling server could not be reached or refused the connection.',
  /** The peer id is already registered by someone else. */
  'id-taken': 'Another peer is already registered with this id.',
  /** A stored record already has this version or a newer one (the store keeps versions monotonic per record). */
  conflict: 'The store already holds this version of the record or a newer one; read it again and write on top.',
  /** A fleet's store quota (records, bytes or record lifetime) would be exceeded. */
  quota: "The fleet's store is full or the record asks for more than the server allows; remove old records or ask the operator to raise the limit.",
  /** A rate limit or concurrency limit was hit. */
  'rate-limited': 'Too many requests; slow down and try again.',
  /** The request timed out. */
  timeout: 'The request timed out.',
  /** The request was cancelled. */
  cancelled: 'The request was cancelled.',
  /** The channel closed before the request finished. */
  'channel-closed': 'The connection closed before the request finished.',
  /** Configuration or local state is invalid. */
  'bad-config': 'The configuration is invalid.',
  /** A command-line mistake: unknown option, missing argument, a value of the wrong form. */
  usage: 'The command line is not valid; see --help.',
  /** Web Crypto is missing: not a secure context. */
  'insecure-context': 'Web Crypto is not available here: open Flotilla over HTTPS or on localhost.',
  /** Something unexpected inside Flotilla. */
  internal: 'Something went wrong inside Flotilla.',
} as const;

export type ErrorCode = keyof typeof ERROR_MESSAGES;

/** A Flotilla error: `code` is stable, `message` is for the user, `detail` adds context. */
export class FlotillaError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string) {
    super(detail ? `${ERROR_MESSAGES[code]} (${detail})` : ERROR_MESSAGES[code]);
    this.name = 'FlotillaError';
    this.code = code;
    this.detail = detail;
  }
}

/** Wire form of an error, as carried in a result. */
export interface WireError {
  code: ErrorCode;
  detail?: string;
}

/** True when `code` is one of ours. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_MESSAGES, code);
}

/** Converts any thrown value to the wire form; unknown errors become `internal`. */
export function toWireError(error: unknown): WireError {
  if (error instanceof FlotillaError) {
    return error.detail === undefined ? { code: error.code } : { code: error.code, detail: error.detail };
  }
  const detail = error instanceof Error ? error.message : String(error);
  return { code: 'internal', detail };
}

/** Rebuilds an error from its wire form. */
export function fromWireError(wire: WireError): FlotillaError {
  return new FlotillaError(wire.code, wire.detail);
}
