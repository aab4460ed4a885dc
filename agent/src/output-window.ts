// Flow control of a command's output per request: a controller that sends `window` in its exec
// request takes at most that many bytes of output before it acknowledges them (`output.ack`).
// Until then the sender waits here; the exec handler stops reading the command's pipes while
// output waits (exec.ts), so a command that prints faster than the controller consumes is
// slowed down instead of its output piling up in the agent or the controller.

type Stream = 'stdout' | 'stderr';

/** The output windows of one session, by request id. */
export interface OutputWindows {
  /**
   * A sender for `requestId` that waits for room in its window before calling `send`; without
   * a window (an older controller), sends at once. The output message's `window` field tells the
   * controller to acknowledge.
   */
  sender(
    requestId: string,
    window: number | undefined,
    send: (stream: Stream, bytes: Uint8Array, window: number | undefined) => Promise<void>,
  ): (stream: Stream, bytes: Uint8Array) => Promise<void>;
  /** An `output.ack` arrived. */
  ack(requestId: string, bytes: number): void;
  /** The request ended: nothing more waits for its acknowledgements. */
  end(requestId: string): void;
  /** The session closed: every waiting sender goes on (its send then does nothing). */
  closeAll(): void;
}

interface Window {
  size: number;
  sent: number;
  acked: number;
  waiting: { bytes: number; go: () => void }[];
}

/** Creates the windows of one session. */
export function createOutputWindows(): OutputWindows {
  const windows = new Map<string, Window>();
  let closed = false;

  const pump = (w: Window): void => {
    // First come, first served: output keeps its order within each stream.
    while (w.waiting.length > 0 && (closed || w.sent - w.acked < w.size)) {
      const next = w.waiting.shift()!;
      w.sent += next.bytes;
      next.go();
    }
  };

  return {
    sender(requestId, size, send) {
      if (size === undefined) return (stream, bytes) => send(stream, bytes, undefined);
      const w: Window = { size, sent: 0, acked: 0, waiting: [] };
      windows.set(requestId, w);
      return (stream, bytes) =>
        new Promise<void>((resolve) => {
          w.waiting.push({ bytes: bytes.length, go: () => void send(stream, bytes, size).then(resolve, resolve) });
          pump(w);
        });
    },
    ack(requestId, bytes) {
      const w = windows.get(requestId);
      if (!w || bytes <= w.acked) return;
      w.acked = Math.min(bytes, w.sent);
      pump(w);
    },
    end(requestId) {
      const w = windows.get(requestId);
      if (!w) return;
      windows.delete(requestId);
      w.size = Infinity;
      pump(w);
    },
    closeAll() {
      closed = true;
      for (const w of windows.values()) pump(w);
      windows.clear();
    },
  };
}
