// The transport-independent half of a RawLink: an ordered inbox until a handler is set, one
// close notification, and drain waiters over a channel's bufferedAmount. The werift link
// (node/rtc/raw-link.ts) and the browser's peerjs link build on it.

import type { RawLink } from './transport.ts';

type Data = Uint8Array | string;

/** What the core needs from a data channel. */
export interface LinkCoreOptions {
  remoteId: string;
  bufferedAmount(): number;
  /** Sets the channel's bufferedAmountLowThreshold (its low event then calls checkDrains). */
  setLowThreshold(bytes: number): void;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** Messages that arrived before the link existed, in order. */
  early?: Data[];
}

/** The shared state machine; the transport calls deliver/markDown/notifyClosed/checkDrains. */
export interface LinkCore extends Pick<RawLink, 'waitForDrain' | 'onMessage' | 'onClose'> {
  readonly closedReason: string | undefined;
  /** Hands an arrived message to the handler, or keeps it until one is set. */
  deliver(data: Data): void;
  /** Records the first close reason and releases drain waiters; false if already down. */
  markDown(reason: string): boolean;
  /** Tells the close handler (once a reason is recorded). */
  notifyClosed(): void;
  /** Resolves the waiters whose threshold is met (call on the channel's low event). */
  checkDrains(): void;
}

/** Creates the core of one link. */
export function createLinkCore(o: LinkCoreOptions): LinkCore {
  const inbox: Data[] = [...(o.early ?? [])];
  let messageHandler: ((data: Data) => void) | undefined;
  let closeHandler: ((reason: string) => void) | undefined;
  let closedReason: string | undefined;
  let drains: { threshold: number; resolve: () => void }[] = [];

  function call<T>(handler: (value: T) => void, value: T, what: string): void {
    try {
      handler(value);
    } catch (error) {
      o.log('link-handler-failed', { remoteId: o.remoteId.slice(0, 8), handler: what, error: String(error) });
    }
  }

  function checkDrains(): void {
    const amount = o.bufferedAmount();
    const met = drains.filter((d) => closedReason !== undefined || amount <= d.threshold);
    drains = drains.filter((d) => !met.includes(d));
    for (const d of met) d.resolve();
    // The channel fires its low event once, at the highest threshold still waited for.
    if (drains.length > 0) o.setLowThreshold(Math.max(...drains.map((d) => d.threshold)));
  }

  return {
    get closedReason() {
      return closedReason;
    },
    deliver(data) {
      if (messageHandler) call(messageHandler, data, 'onMessage');
      else inbox.push(data);
    },
    markDown(reason) {
      if (closedReason !== undefined) return false;
      closedReason = reason;
      checkDrains();
      return true;
    },
    notifyClosed() {
      if (closeHandler && closedReason !== undefined) call(closeHandler, closedReason, 'onClose');
    },
    checkDrains,
    waitForDrain(threshold) {
      const limit = Math.min(Math.max(0, Math.floor(threshold)), 0xffffffff);
      if (closedReason !== undefined || o.bufferedAmount() <= limit) return Promise.resolve();
      return new Promise<void>((resolve) => {
        drains.push({ threshold: limit, resolve });
        checkDrains();
      });
    },
    onMessage(handler) {
      messageHandler = handler;
      for (const message of inbox.splice(0)) call(handler, message, 'onMessage');
    },
    onClose(handler) {
      closeHandler = handler;
      const reason = closedReason;
      if (reason !== undefined) queueMicrotask(() => call(handler, reason, 'onClose'));
    },
  };
}
