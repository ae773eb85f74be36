import type { IntervalCounts } from "../domain/types.ts";
import type { CountStore, OutboxEntry } from "../store/store.ts";
import type { MqttPublisher } from "./mqtt-publisher.ts";
import { MemoryOutbox, type Outbox } from "./outbox.ts";

export interface RenderedMessage {
  readonly topic: string;
  readonly payload: string;
  readonly messageId: string;
}

export interface DeliveryOptions {
  /** The database, or undefined while it cannot be opened (asked again at every interval). */
  readonly store: () => CountStore | undefined;
  readonly publisher: MqttPublisher | undefined;
  readonly render: (counts: IntervalCounts, seq: number) => RenderedMessage;
  /** Sequence number to continue from (the highest one handed out before). */
  readonly initialSeq?: number;
  /** Records each sequence number before it is used (see SeqMark); may fail without harm. */
  readonly markSeq?: (seq: number) => void;
  readonly onStorageError?: (message: string) => void;
  /** The database could be written again: `n` intervals held in memory are now in it. */
  readonly onStorageRecovered?: (n: number) => void;
  readonly onDelivered?: (entry: OutboxEntry) => void;
  /** Longest wait for a PUBACK before the message is retried after a reconnect. */
  readonly ackTimeoutMs?: number;
}

/** At most this many intervals are held in memory (a week of 60-s intervals); older ones go first. */
const MEMORY_CAPACITY = 10_000;

/**
 * From finished interval to broker: commit to SQLite (history + outbox, one transaction), then
 * drain the outbox in order, deleting an entry only after its PUBACK. If the database cannot be
 * written, counts are kept in memory, in order, and delivered from there; the error is reported.
 * When the database can be written again, the held intervals go into it with the sequence numbers
 * they were given, and numbering continues above them: a `seq` is never handed out twice.
 */
export class CountDelivery {
  private readonly memory = new MemoryOutbox(MEMORY_CAPACITY);
  /** Intervals numbered while the database could not be written, oldest first. */
  private readonly held: { counts: IntervalCounts; entry: OutboxEntry }[] = [];
  private draining = false;
  private lastSeq: number;
  storageError: string | null = null;

  constructor(private readonly o: DeliveryOptions) {
    this.lastSeq = o.initialSeq ?? 0;
  }

  /** Stores and queues one finished interval; returns its outbox entry. */
  deliver(counts: IntervalCounts): OutboxEntry {
    let entry: OutboxEntry | undefined;
    // Held intervals go into the database first, so that its order and numbering stay whole.
    const store = this.o.store();
    if (store && this.writeHeld(store)) {
      try {
        entry = store.commitInterval(
          counts,
          (seq) => {
            this.o.markSeq?.(seq);
            return this.o.render(counts, seq);
          },
          this.lastSeq + 1,
        );
        this.lastSeq = entry.seq;
        this.storageError = null;
      } catch (err) {
        this.storageError = (err as Error).message;
        this.o.onStorageError?.(this.storageError);
      }
    }
    if (!entry) {
      const seq = this.lastSeq + 1;
      this.o.markSeq?.(seq); // before it is used: a restart must not hand it out again
      this.lastSeq = seq;
      const m = this.o.render(counts, seq);
      entry = { seq, messageId: m.messageId, topic: m.topic, payload: m.payload };
      this.memory.add(entry);
      // kept for the database, should it become writable (or openable) again
      this.held.push({ counts, entry });
      if (this.held.length > MEMORY_CAPACITY) this.held.shift();
      if (!store) this.storageError ??= "no database: counts are held in memory only";
    }
    this.kick();
    return entry;
  }

  /** Writes the held intervals into the database; true when none are left held. */
  private writeHeld(store: CountStore): boolean {
    if (this.held.length === 0) return true;
    const pendingSeqs = new Set(this.memory.pending(MEMORY_CAPACITY).map((e) => e.seq));
    try {
      store.commitRecovered(this.held.map((h) => ({ ...h, pending: pendingSeqs.has(h.entry.seq) })));
    } catch {
      return false;
    }
    // from now on they are delivered from the database's outbox
    for (const h of this.held) this.memory.acknowledge(h.entry.seq);
    const n = this.held.length;
    this.held.length = 0;
    this.o.onStorageRecovered?.(n);
    return true;
  }

  outboxDepth(): number {
    const stored = (this.o.store()?.outboxDepth() ?? 0) - this.acknowledgedNotRemoved.size;
    return Math.max(0, stored) + this.memory.outboxDepth();
  }

  /** Starts draining if connected and not already draining (call on every broker connect). */
  kick(): void {
    if (this.draining || !this.o.publisher?.connected) return;
    this.draining = true;
    this.drain()
      .catch((err: Error) => this.o.onStorageError?.(`delivery stopped: ${err.message}`))
      .finally(() => {
        this.draining = false;
      });
  }

  /**
   * Outbox entries the broker acknowledged whose removal failed (a full disk refuses even a
   * DELETE): skipped when draining, removed once the database takes writes again.
   */
  private readonly acknowledgedNotRemoved = new Set<number>();

  private acknowledge(source: Outbox, seq: number): void {
    try {
      source.acknowledge(seq);
      this.acknowledgedNotRemoved.delete(seq);
    } catch {
      this.acknowledgedNotRemoved.add(seq); // delivered; sent again only if the process dies first
    }
  }

  private async drain(): Promise<void> {
    const publisher = this.o.publisher!;
    const store = this.o.store();
    if (store) for (const seq of [...this.acknowledgedNotRemoved]) this.acknowledge(store, seq);
    const sources: Outbox[] = [...(store ? [store] : []), this.memory];
    for (const source of sources) {
      for (;;) {
        if (!publisher.connected) return;
        const skip = source === store ? this.acknowledgedNotRemoved : undefined;
        const batch = source
          .pending(50 + (skip?.size ?? 0))
          .filter((e) => !skip?.has(e.seq))
          .slice(0, 50);
        if (batch.length === 0) break;
        for (const e of batch) {
          try {
            await withTimeout(publisher.publishRendered(e), this.o.ackTimeoutMs ?? 30_000);
          } catch {
            return; // retried from this entry on the next connect
          }
          this.acknowledge(source, e.seq);
          this.o.onDelivered?.(e);
        }
      }
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error("PUBACK timeout")), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
