// The output a terminal session keeps: the last `capacity` bytes of everything its pty printed,
// addressed by offset (bytes since the session's start), so a client that reattaches asks for
// "everything from offset N" and gets each byte once, or learns how many were lost. An append
// may ask to keep every byte from an offset on (what the attached client has not acknowledged):
// the ring then grows, up to `limit`, rather than drop them.

/** A byte ring addressed by absolute offsets. */
export class OutputRing {
  /** The bytes it keeps in the ordinary course. */
  readonly capacity: number;
  /** The most it grows to for bytes it was asked to keep. */
  readonly limit: number;
  private buffer: Uint8Array;
  /** Offset of the next byte written (total bytes ever appended). */
  private total = 0;

  constructor(capacity: number, limit = capacity) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be a positive integer');
    this.capacity = capacity;
    this.limit = Math.max(capacity, limit);
    this.buffer = new Uint8Array(capacity);
  }

  /** Offset after the last byte written. */
  get end(): number {
    return this.total;
  }

  /** Offset of the oldest byte still held. */
  get start(): number {
    return Math.max(0, this.total - this.buffer.length);
  }

  /** Bytes of memory it holds now. */
  get size(): number {
    return this.buffer.length;
  }

  /** Appends bytes; the oldest fall out once the ring is full, unless they are at or after `keep` and the ring may grow. */
  append(bytes: Uint8Array, keep = Infinity): void {
    const needed = this.total + bytes.length - keep;
    if (needed > this.buffer.length && this.buffer.length < this.limit) this.grow(Math.min(this.limit, Math.max(needed, this.buffer.length * 2)));
    let data = bytes;
    if (data.length > this.buffer.length) {
      // Only the tail can be kept.
      this.total += data.length - this.buffer.length;
      data = data.subarray(data.length - this.buffer.length);
    }
    this.place(this.total, data);
    this.total += data.length;
  }

  /** Writes `data` at absolute offset `at` (its length at most the buffer's). */
  private place(at: number, data: Uint8Array): void {
    const size = this.buffer.length;
    const pos = at % size;
    const first = Math.min(data.length, size - pos);
    this.buffer.set(data.subarray(0, first), pos);
    if (first < data.length) this.buffer.set(data.subarray(first), 0);
  }

  private grow(size: number): void {
    const held = this.read(this.start);
    this.buffer = new Uint8Array(size);
    this.place(held.offset, held.bytes);
  }

  /** Goes back to its ordinary size once nothing beyond it must be kept (the oldest bytes fall out). */
  shrink(keep = Infinity): void {
    if (this.buffer.length === this.capacity || this.total - Math.min(keep, this.total) > this.capacity) return;
    const held = this.read(Math.max(this.start, this.total - this.capacity));
    this.buffer = new Uint8Array(this.capacity);
    this.place(held.offset, held.bytes);
  }

  /**
   * Up to `max` bytes from offset `from` (or from the oldest byte held when `from` is older):
   * `offset` is where the returned bytes start, `lost` how many between `from` and it are gone.
   * A copy, so later appends do not change it.
   */
  read(from: number, max = this.buffer.length): { offset: number; bytes: Uint8Array; lost: number } {
    const size = this.buffer.length;
    const offset = Math.min(Math.max(from, this.start), this.total);
    const length = Math.max(0, Math.min(max, this.total - offset));
    const bytes = new Uint8Array(length);
    const at = offset % size;
    const first = Math.min(length, size - at);
    bytes.set(this.buffer.subarray(at, at + first), 0);
    if (first < length) bytes.set(this.buffer.subarray(0, length - first), first);
    return { offset, bytes, lost: Math.max(0, Math.min(offset, this.total) - from) };
  }
}
