// One terminal session on the agent: a pty, the ring of its recent output, and at most one
// attached client. The session outlives its clients (reattach, spec.ts): output goes to the
// ring, and from the ring to the client within its flow-control window; while the client is a
// window behind, the pty is paused, so a fast writer blocks instead of growing memory.

import { OutputRing } from './ring.ts';
import type { CloseSignal, DetachReason, TerminalExit } from './spec.ts';

/** The part of a pty a session uses (node-pty's IPty, with binary data). */
export interface PtyProcess {
  readonly pid: number;
  onData(listener: (bytes: Uint8Array) => void): void;
  onExit(listener: (exit: { exitCode: number; signal?: string }) => void): void;
  write(bytes: Uint8Array): void;
  resize(cols: number, rows: number): void;
  pause(): void;
  resume(): void;
  kill(signal: NodeJS.Signals): void;
  /** Lets go of what keeps the pty open after its program ended (once it has been read dry). */
  release?(): void;
}

/** What a session tells the client attached to it. */
export interface ClientSink {
  /** Output from `offset`; resolves when the transport has taken it. */
  output(offset: number, bytes: Uint8Array): Promise<void>;
  /** The program ended and every byte of output has been handed to `output`. */
  exit(exit: TerminalExit): void;
  /** The session let this client go (another took over, or the session was removed). */
  detached(reason: DetachReason): void;
}

/** What a session records and reports beside its output (the recorder, the audit log). */
export interface SessionObserver {
  output?(bytes: Uint8Array): void;
  resize?(cols: number, rows: number): void;
  ended?(exit: TerminalExit): void;
  /** True while the observer is behind (a recording's writes): the pty is paused meanwhile. */
  readonly busy?: boolean;
  /** Calls back when `busy` may have turned false. */
  onIdle?(listener: () => void): void;
}

export interface SessionLimits {
  ringBytes: number;
  /** How long a session lives with no client attached. */
  detachMs: number;
  /** A session with no input and no output for this long is closed (0: never). */
  idleMs: number;
  /** After a close signal, SIGKILL follows if the program has not ended. */
  killGraceMs: number;
}

/**
 * Largest output event a session sends at once: with its header it fits one record of the
 * secure session (FRAGMENT_BYTES, 60 KiB), so a full chunk is sealed and sent as one piece.
 */
export const CHUNK_BYTES = 59 * 1024;
/**
 * Output that follows a send within this time is held until this time has passed since that
 * send (or a full chunk is ready), then sent as one event. A pty is read 4 KiB at a time
 * (the kernel's line-discipline buffer): sent as they come, a `cat` of a large file is one
 * message (a seal, a record, a frame, a write, part of an ack) per 4 KiB. Output after a quiet
 * time (an echoed key, a prompt) still goes at once.
 */
export const COALESCE_MS = 2;
/** How often a session checks that its program still runs (well below node-pty's 200 ms). */
const CHILD_WATCH_MS = 40;
/** How long the pty is read after its program ended before it is let go. */
const DRAIN_MS = 40;
/** Room the ring keeps beyond the window for output read after the pty was paused. */
export const RING_MARGIN = 64 * 1024;

/** The window a client gets: what it asked for, bounded by what the ring can hold for it. */
export function effectiveWindow(requested: number, ringBytes: number): number {
  return Math.max(1, Math.min(requested, ringBytes - RING_MARGIN));
}

interface Attachment {
  readonly sink: ClientSink;
  readonly window: number;
  /** Offset of the next byte to hand to the sink. */
  sent: number;
  /** Every byte before this offset has been consumed by the client. */
  acked: number;
  exitSent: boolean;
}

/** A handle on an attached client. */
export interface Attached {
  /** Where its output starts, and how many bytes before that were lost. */
  readonly offset: number;
  readonly lost: number;
  readonly window: number;
  /** Starts sending (after the caller has sent its first event). */
  start(): void;
  ack(offset: number): void;
  /** Lets the session go on without this client. */
  detach(): void;
  /** True while this client is the session's. */
  readonly current: boolean;
}

export interface SessionInfo {
  id: string;
  device: string;
  deviceName?: string;
  user: string;
  command?: string;
  startedAt: number;
}

/** A running (or ended, not yet collected) terminal session. */
export class TerminalSession {
  readonly info: SessionInfo;
  readonly pid: number;
  readonly ring: OutputRing;
  cols: number;
  rows: number;
  activeAt: number;
  exit: TerminalExit | undefined;
  /** With no client attached: when the session will be removed. */
  expiresAt: number | undefined;
  private client: Attachment | undefined;
  private paused = false;
  private pumping = false;
  /** When output was last handed to the client (performance.now()). */
  private sentAt = -Infinity;
  /** Sends what the ring holds once the coalescing time is over. */
  private coalesceTimer: NodeJS.Timeout | undefined;
  private expireTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private removed = false;
  private childWatch: NodeJS.Timeout | undefined;
  /** The pty's program has exited (seen while paused): the pty is read to its end. */
  private childGone = false;
  /** The detach time ran out: the session goes as soon as its program has ended. */
  private expired = false;

  constructor(
    info: SessionInfo,
    private readonly pty: PtyProcess,
    size: { cols: number; rows: number },
    private readonly limits: SessionLimits,
    private readonly observer: SessionObserver,
    /** Called once when the session is gone (ended and delivered, or expired). */
    private readonly onRemove: (session: TerminalSession) => void,
  ) {
    this.info = info;
    this.pid = pty.pid;
    this.cols = size.cols;
    this.rows = size.rows;
    // Output the client has not acknowledged is kept even beyond the ring (up to 4 times it):
    // what the pty still holds when its program ends is read after a pause (watchChild).
    this.ring = new OutputRing(limits.ringBytes, limits.ringBytes * 4);
    this.activeAt = Date.now();
    pty.onData((bytes) => this.onOutput(bytes));
    pty.onExit(({ exitCode, signal }) => this.onExit(exitCode, signal));
    observer.onIdle?.(() => this.updatePause());
    this.watchChild();
    this.armIdle();
    // A session nobody attaches to (the opener failed to) still expires.
    this.armExpiry();
  }

  get attached(): boolean {
    return this.client !== undefined;
  }

  /** Attaches a client from output offset `from`; a client already attached is let go ('taken-over'). */
  attach(sink: ClientSink, from: number, window: number): Attached {
    const previous = this.client;
    if (previous) {
      this.client = undefined;
      previous.sink.detached('taken-over');
    }
    const { offset, lost } = this.ring.read(from, 0);
    const attachment: Attachment = { sink, window: effectiveWindow(window, this.ring.capacity), sent: offset, acked: offset, exitSent: false };
    this.client = attachment;
    this.disarmExpiry();
    this.updatePause();
    const isCurrent = () => this.client === attachment;
    return {
      offset,
      lost,
      window: attachment.window,
      start: () => void this.pump(),
      ack: (at) => {
        if (this.client !== attachment) return;
        attachment.acked = Math.max(attachment.acked, Math.min(at, attachment.sent));
        this.ring.shrink(attachment.acked);
        this.updatePause();
        void this.pump();
      },
      detach: () => {
        if (this.client !== attachment) return;
        this.client = undefined;
        this.afterDetach(attachment);
      },
      get current() {
        return isCurrent();
      },
    };
  }

  /** Keystrokes. Ignored once the program has ended. */
  input(bytes: Uint8Array): void {
    if (this.exit || bytes.length === 0) return;
    this.activeAt = Date.now();
    this.pty.write(bytes);
  }

  resize(cols: number, rows: number): void {
    if (this.exit || (cols === this.cols && rows === this.rows)) return;
    this.cols = cols;
    this.rows = rows;
    this.pty.resize(cols, rows);
    this.observer.resize?.(cols, rows);
  }

  /** Hangs the session up: the signal to the pty's process group, SIGKILL after a grace time. */
  close(signal: CloseSignal = 'HUP'): void {
    if (this.exit) {
      this.remove();
      return;
    }
    this.signalGroup(`SIG${signal}`);
    // The pty stays readable while the program ends.
    if (this.paused) {
      this.paused = false;
      this.pty.resume();
    }
    setTimeout(() => {
      if (!this.exit) this.signalGroup('SIGKILL');
    }, this.limits.killGraceMs).unref();
  }

  private signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      try {
        this.pty.kill(signal);
      } catch {
        // Already gone.
      }
    }
  }

  private onOutput(bytes: Uint8Array): void {
    this.activeAt = Date.now();
    this.ring.append(bytes, this.client?.acked ?? Infinity);
    this.observer.output?.(bytes);
    this.updatePause();
    void this.pump();
  }

  private onExit(exitCode: number, signal: string | undefined): void {
    if (this.exit) return;
    this.exit = { exitCode, ...(signal ? { signal } : {}), offset: this.ring.end };
    clearTimeout(this.idleTimer);
    clearInterval(this.childWatch);
    this.pty.release?.();
    this.observer.ended?.(this.exit);
    if (this.client) void this.pump();
    else if (this.expired) this.remove();
    else this.armExpiry();
  }

  /** Hands the client what it may have: the ring from its position, within its window. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const client = this.client;
        if (!client) return;
        const room = client.acked + client.window - client.sent;
        if (client.sent < this.ring.end && room > 0) {
          const most = Math.min(CHUNK_BYTES, room);
          if (this.ring.end - client.sent < most && this.holdOutput()) return;
          const chunk = this.ring.read(client.sent, most);
          client.sent = chunk.offset + chunk.bytes.length;
          this.sentAt = performance.now();
          await client.sink.output(chunk.offset, chunk.bytes);
          continue;
        }
        if (this.exit && client.sent >= this.exit.offset && !client.exitSent) {
          client.exitSent = true;
          client.sink.exit(this.exit);
          // Delivered: the session is done.
          this.client = undefined;
          this.remove();
        }
        return;
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * True when less than a chunk is ready and the last send was under COALESCE_MS ago: a timer
   * then sends it when that time is over. Never once the program has ended.
   */
  private holdOutput(): boolean {
    if (this.exit || this.childGone) return false;
    const wait = this.sentAt + COALESCE_MS - performance.now();
    if (wait <= 0) return false;
    this.coalesceTimer ??= setTimeout(() => {
      this.coalesceTimer = undefined;
      this.sentAt = -Infinity; // due now, whatever the timer's rounding
      void this.pump();
    }, wait);
    this.coalesceTimer.unref();
    return true;
  }

  /** Pauses the pty while the client is a window behind or the observer is busy; resumes otherwise. */
  private updatePause(): void {
    if (this.exit || this.removed) return;
    const client = this.client;
    const behind = client ? this.ring.end - client.acked >= client.window : false;
    const pause = !this.childGone && (behind || this.observer.busy === true);
    if (pause === this.paused) return;
    this.paused = pause;
    if (pause) this.pty.pause();
    else this.pty.resume();
  }

  /**
   * Watches for the pty's program to end. The pty is then read to its end whatever the client's
   * window (at most its kernel buffer, kept by the ring beyond its size), and released: node-pty
   * destroys a pty 200 ms after its program exits, dropping what it had not read.
   */
  private watchChild(): void {
    this.childWatch = setInterval(() => {
      try {
        process.kill(this.pid, 0);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') return;
        this.childGone = true;
        clearInterval(this.childWatch);
        this.updatePause();
        setTimeout(() => this.pty.release?.(), DRAIN_MS).unref();
      }
    }, CHILD_WATCH_MS);
    this.childWatch.unref();
  }

  private afterDetach(attachment: Attachment): void {
    if (attachment.exitSent) return;
    this.ring.shrink();
    this.updatePause();
    this.armExpiry();
  }

  private armExpiry(): void {
    this.disarmExpiry();
    if (this.client || this.removed) return;
    this.expiresAt = Date.now() + this.limits.detachMs;
    this.expireTimer = setTimeout(() => {
      this.expireTimer = undefined;
      if (this.client) return;
      this.expired = true;
      if (this.exit) this.remove();
      else this.close('HUP');
    }, this.limits.detachMs);
    this.expireTimer.unref();
  }

  private disarmExpiry(): void {
    clearTimeout(this.expireTimer);
    this.expireTimer = undefined;
    this.expiresAt = undefined;
  }

  private armIdle(): void {
    if (!this.limits.idleMs) return;
    const check = () => {
      if (this.exit) return;
      const quiet = Date.now() - this.activeAt;
      if (quiet >= this.limits.idleMs) this.close('HUP');
      else this.idleTimer = setTimeout(check, this.limits.idleMs - quiet).unref();
    };
    this.idleTimer = setTimeout(check, this.limits.idleMs).unref();
  }

  /** Forgets the session (its program has ended or is being ended). */
  private remove(): void {
    if (this.removed) return;
    if (!this.exit) {
      // Still running (close() already signalled it): removed when it exits.
      return;
    }
    this.removed = true;
    this.disarmExpiry();
    clearTimeout(this.idleTimer);
    clearTimeout(this.coalesceTimer);
    const client = this.client;
    this.client = undefined;
    if (client && !client.exitSent) client.sink.detached('detached');
    this.onRemove(this);
  }
}
