// An in-memory RawLink pair for unit tests of the handshake and session. Real links come
// from werift or the browser; this one lets a test play the hostile network in between.

import type { PathInfo, RawLink } from './transport.ts';

/** Intercepts a message in transit: return the messages to deliver instead (none = drop). */
export type Tamper = (data: Uint8Array | string, from: 'a' | 'b') => (Uint8Array | string)[];

/** Makes two connected links. `seen` sets the fingerprints each side believes in. */
export function createMemoryLinkPair(
  options: {
    aFingerprint?: string;
    bFingerprint?: string;
    /** What A sees as B's fingerprint (a MITM rewrites this); defaults to the truth. */
    aSeesB?: string;
    bSeesA?: string;
    tamper?: Tamper;
  } = {},
): [RawLink, RawLink] {
  const aFp = options.aFingerprint ?? 'sha-256 AA:AA';
  const bFp = options.bFingerprint ?? 'sha-256 BB:BB';
  const sides = {
    a: makeSide('b-id', aFp, options.aSeesB ?? bFp),
    b: makeSide('a-id', bFp, options.bSeesA ?? aFp),
  };
  const tamper: Tamper = options.tamper ?? ((data) => [data]);
  sides.a.peer = sides.b;
  sides.b.peer = sides.a;
  sides.a.name = 'a';
  sides.b.name = 'b';

  interface Side {
    name: 'a' | 'b';
    peer: Side | undefined;
    link: RawLink;
    deliver(data: Uint8Array | string): void;
    shut(reason: string): void;
  }

  function makeSide(remoteId: string, local: string, remote: string): Side {
    let handler: ((data: Uint8Array | string) => void) | undefined;
    const early: (Uint8Array | string)[] = [];
    let closeHandler: ((reason: string) => void) | undefined;
    let closed = false;
    const side: Side = {
      name: 'a',
      peer: undefined,
      deliver(data) {
        if (closed) return;
        if (handler) handler(data);
        else early.push(data);
      },
      shut(reason) {
        if (closed) return;
        closed = true;
        closeHandler?.(reason);
      },
      link: {
        remoteId,
        localFingerprint: local,
        remoteFingerprint: remote,
        send(data) {
          if (closed) throw new Error('link closed');
          const copy = typeof data === 'string' ? data : new Uint8Array(data);
          for (const out of tamper(copy, side.name)) setTimeout(() => side.peer?.deliver(out), 0);
        },
        bufferedAmount: () => 0,
        waitForDrain: () => Promise.resolve(),
        onMessage(h) {
          handler = h;
          for (const data of early.splice(0)) h(data);
        },
        onClose(h) {
          closeHandler = h;
        },
        close() {
          side.shut('closed');
          setTimeout(() => side.peer?.shut('closed'), 0);
        },
        path: (): Promise<PathInfo | undefined> => Promise.resolve({ local: 'host', remote: 'host', protocol: 'udp', relayed: false }),
      },
    };
    return side;
  }

  return [sides.a.link, sides.b.link];
}
