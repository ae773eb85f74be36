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
  /** undefined when the database could not be opened at all. */
  readonly store: CountStore | undefined;
  readonly publisher: MqttPublisher | undefined;
  readonly render: (counts: IntervalCounts, seq: number) => RenderedMessage;
  /** Sequence number to continue from when counting in memory only. */
  readonly initialSeq?: number;
  readonly onStorageError?: (message: string) => void;
  readonly onDelivered?: (entry: OutboxEntry) => void;
  /** Longest wait for a PUBACK before the message is retried after a reconnect. */
  readonly ackTimeoutMs?: number;
}

/**
 * From finished interval to broker: commit to SQLite (history + outbox, one transaction), then
 * drain the outbox in order, deleting an entry only after its PUBACK. If the database cannot be
 * written, counts are kept in memory, in order, and delivered from there; the error is reported.
 */
export class CountDelivery {
  private readonly memory = new MemoryOutbox();
  private draining = false;
  private lastSeq: number;
  storageError: string | null = null;

  constructor(private readonly o: DeliveryOptions) {
    this.lastSeq = o.initialSeq ?? 0;
  }

  /** Stores and queues one finished interval; returns its outbox entry. */
  deliver(counts: IntervalCounts): OutboxEntry {
    let entry: OutboxEntry | undefined;
    // Once anything waits in memory, later intervals queue behind it so the order holds.
    if (this.o.store && this.memory.outboxDepth() === 0) {
      try {
        entry = this.o.store.commitInterval(counts, (seq) => this.o.render(counts, seq));
        this.lastSeq = entry.seq;
        this.storageError = null;
      } catch (err) {
        this.storageError = (err as Error).message;
        this.o.onStorageError?.(this.storageError);
      }
    }
    if (!entry) {
      const seq = ++this.lastSeq;
      const m = this.o.render(counts, seq);
      entry = { seq, messageId: m.messageId, topic: m.topic, payload: m.payload };
      this.memory.add(entry);
      if (!this.o.store) this.storageError ??= "no database: counts are held in memory only";
    }
    this.kick();
    return entry;
  }

  outboxDepth(): number {
    return (this.o.store?.outboxDepth() ?? 0) + this.memory.outboxDepth();
  }

  /** Starts draining if connected and not already draining (call on every broker connect). */
  kick(): void {
    if (this.draining || !this.o.publisher?.connected) return;
    this.draining = true;
    void this.drain().finally(() => {
      this.draining = false;
    });
  }

  private async drain(): Promise<void> {
    const publisher = this.o.publisher!;
    const sources: Outbox[] = [...(this.o.store ? [this.o.store] : []), this.memory];
    for (const source of sources) {
      for (;;) {
        if (!publisher.connected) return;
        const batch = source.pending(50);
        if (batch.length === 0) break;
        for (const e of batch) {
          try {
            await withTimeout(publisher.publish(e.topic, e.payload), this.o.ackTimeoutMs ?? 30_000);
          } catch {
            return; // retried from this entry on the next connect
          }
          source.acknowledge(e.seq);
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
