// An ordered inbox over a RawLink: the handshake reads its first messages, then the
// session takes over the same inbox, so nothing that arrives in between is lost.

import { FlotillaError } from '../wire/errors.ts';
import type { RawLink } from './transport.ts';

/** Ordered inbox of one link's messages. */
export interface LinkInbox {
  /** Next message, or rejects with channel-closed/timeout. */
  next(timeoutMs: number): Promise<Uint8Array | string>;
  /** Switches to push mode: every queued and future message goes to `handler`. */
  drainTo(handler: (data: Uint8Array | string) => void): void;
  /** Adds a close listener (the link itself takes only one). */
  onClose(handler: (reason: string) => void): void;
  readonly closed: boolean;
  readonly closeReason: string;
}

/** Starts buffering a link's messages. */
export function createLinkInbox(link: RawLink, maxQueued = 1024): LinkInbox {
  const queue: (Uint8Array | string)[] = [];
  let waiter: ((value: Uint8Array | string | undefined) => void) | undefined;
  let pushTo: ((data: Uint8Array | string) => void) | undefined;
  let closed = false;
  let closeReason = '';
  const closeListeners: ((reason: string) => void)[] = [];

  link.onMessage((data) => {
    if (pushTo) return pushTo(data);
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      return w(data);
    }
    if (queue.length >= maxQueued) {
      link.close();
      return;
    }
    queue.push(data);
  });
  link.onClose((reason) => {
    closed = true;
    closeReason = reason;
    const w = waiter;
    waiter = undefined;
    w?.(undefined);
    for (const listener of closeListeners) listener(reason);
  });

  return {
    get closed() {
      return closed;
    },
    get closeReason() {
      return closeReason;
    },
    next(timeoutMs) {
      const head = queue.shift();
      if (head !== undefined) return Promise.resolve(head);
      if (closed) return Promise.reject(new FlotillaError('channel-closed', closeReason));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = undefined;
          reject(new FlotillaError('timeout', 'the peer did not answer the handshake'));
        }, timeoutMs);
        waiter = (value) => {
          clearTimeout(timer);
          if (value === undefined) reject(new FlotillaError('channel-closed', closeReason));
          else resolve(value);
        };
      });
    },
    onClose(handler) {
      if (closed) handler(closeReason);
      else closeListeners.push(handler);
    },
    drainTo(handler) {
      pushTo = handler;
      for (const data of queue.splice(0)) handler(data);
    },
  };
}
