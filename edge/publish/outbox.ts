import type { OutboxEntry } from "../store/store.ts";

/** Messages waiting for delivery, oldest first. Implemented by the SQLite store and by memory. */
export interface Outbox {
  pending(limit: number): OutboxEntry[];
  acknowledge(seq: number): void;
  outboxDepth(): number;
}

/** Holds messages while the database cannot be written; lost if the process dies. */
export class MemoryOutbox implements Outbox {
  private readonly entries: OutboxEntry[] = [];

  constructor(private readonly capacity = 10_000) {}

  add(entry: OutboxEntry): void {
    if (this.entries.length >= this.capacity) this.entries.shift();
    this.entries.push(entry);
  }

  pending(limit: number): OutboxEntry[] {
    return this.entries.slice(0, limit);
  }

  acknowledge(seq: number): void {
    const i = this.entries.findIndex((e) => e.seq === seq);
    if (i >= 0) this.entries.splice(i, 1);
  }

  outboxDepth(): number {
    return this.entries.length;
  }
}
