// The output a terminal session keeps: the last `capacity` bytes of everything its pty printed,
// addressed by offset (bytes since the session's start), so a client that reattaches asks for
// "everything from offset N" and gets each byte once, or learns how many were lost.

/** A byte ring addressed by absolute offsets. */
export class OutputRing {
  readonly capacity: number;
  private readonly buffer: Uint8Array;
  /** Offset of the next byte written (total bytes ever appended). */
  private total = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be a positive integer');
    this.capacity = capacity;
    this.buffer = new Uint8Array(capacity);
  }

  /** Offset after the last byte written. */
  get end(): number {
    return this.total;
  }

  /** Offset of the oldest byte still held. */
  get start(): number {
    return Math.max(0, this.total - this.capacity);
  }

  /** Appends bytes; the oldest fall out once the ring is full. */
  append(bytes: Uint8Array): void {
    let data = bytes;
    if (data.length > this.capacity) {
      // Only the tail can be kept.
      this.total += data.length - this.capacity;
      data = data.subarray(data.length - this.capacity);
    }
    const at = this.total % this.capacity;
    const first = Math.min(data.length, this.capacity - at);
    this.buffer.set(data.subarray(0, first), at);
    if (first < data.length) this.buffer.set(data.subarray(first), 0);
    this.total += data.length;
  }

  /**
   * Up to `max` bytes from offset `from` (or from the oldest byte held when `from` is older):
   * `offset` is where the returned bytes start, `lost` how many between `from` and it are gone.
   * A copy, so later appends do not change it.
   */
  read(from: number, max = this.capacity): { offset: number; bytes: Uint8Array; lost: number } {
    const offset = Math.min(Math.max(from, this.start), this.total);
    const length = Math.max(0, Math.min(max, this.total - offset));
    const bytes = new Uint8Array(length);
    const at = offset % this.capacity;
    const first = Math.min(length, this.capacity - at);
    bytes.set(this.buffer.subarray(at, at + first), 0);
    if (first < length) bytes.set(this.buffer.subarray(0, length - first), first);
    return { offset, bytes, lost: Math.max(0, Math.min(offset, this.total) - from) };
  }
}
