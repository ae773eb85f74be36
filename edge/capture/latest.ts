/**
 * A one-place mailbox where the newest item wins: `put` replaces an item nobody took yet (it is
 * released and counted as dropped), `take` waits for the next one. Memory stays bounded however slow
 * the consumer is.
 */
export class LatestSlot<T> {
  private item: T | undefined;
  private waiter: ((v: T | undefined) => void) | undefined;
  private closed = false;
  dropped = 0;

  constructor(private readonly release: (item: T) => void = () => {}) {}

  put(item: T): void {
    if (this.closed) {
      this.release(item);
      return;
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(item);
      return;
    }
    if (this.item !== undefined) {
      this.release(this.item);
      this.dropped++;
    }
    this.item = item;
  }

  /** The newest item, or undefined once closed and empty. */
  take(): Promise<T | undefined> {
    if (this.item !== undefined) {
      const v = this.item;
      this.item = undefined;
      return Promise.resolve(v);
    }
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  close(): void {
    this.closed = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(undefined);
    }
  }
}

/** A fixed set of equal-size buffers handed out and returned, so frames allocate nothing. */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly size: number,
    count: number,
  ) {
    for (let i = 0; i < count; i++) this.free.push(Buffer.allocUnsafe(size));
  }

  get(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.size);
  }

  put(b: Buffer): void {
    if (b.length === this.size && this.free.length < 8) this.free.push(b);
  }
}
