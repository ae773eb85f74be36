import Database from "better-sqlite3";
import type { IntervalCounts } from "../domain/types.ts";

export class StoreError extends Error {
  override readonly name = "StoreError";
}

/** One message waiting in the outbox, in the order it must be delivered. */
export interface OutboxEntry {
  /** Delivery sequence number: consecutive per device, so consumers can detect gaps. */
  readonly seq: number;
  /** Stable id: device + interval start. A redelivery carries the same id. */
  readonly messageId: string;
  readonly topic: string;
  readonly payload: string;
}

export interface HistoryQuery {
  readonly fromMs?: number;
  readonly toMs?: number;
}

const MIGRATIONS: readonly string[] = [
  // 1: history and outbox
  `CREATE TABLE intervals (
     seq INTEGER PRIMARY KEY,
     device_id TEXT NOT NULL,
     start_ms INTEGER NOT NULL,
     end_ms INTEGER NOT NULL,
     partial INTEGER NOT NULL,
     body TEXT NOT NULL
   );
   CREATE INDEX intervals_start ON intervals (start_ms);
   CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY,
     message_id TEXT NOT NULL UNIQUE,
     topic TEXT NOT NULL,
     payload TEXT NOT NULL,
     created_ms INTEGER NOT NULL
   );
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
];

/**
 * SQLite (WAL) storage: the interval history and the outbox, written in one transaction before
 * anything is published, so a crash or a broker outage loses nothing.
 */
export class CountStore {
  private readonly db: Database.Database;

  constructor(
    readonly path: string,
    /** Upper bound of the file size; 0 = none. Writes beyond it fail like a full disk. */
    maxSizeMb = 0,
  ) {
    try {
      this.db = new Database(path);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      this.db.pragma("busy_timeout = 2000");
      this.migrate();
      if (maxSizeMb > 0) {
        const pageSize = this.db.pragma("page_size", { simple: true }) as number;
        this.db.pragma(`max_page_count = ${Math.max(8, Math.floor((maxSizeMb * 1024 * 1024) / pageSize))}`);
      }
    } catch (err) {
      throw new StoreError(`cannot open database ${path}: ${(err as Error).message}`);
    }
  }

  private migrate(): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  get schemaVersion(): number {
    return this.db.pragma("user_version", { simple: true }) as number;
  }

  /**
   * The next delivery sequence number; survives restarts and never goes back. `atLeast`: numbers
   * below it were handed out while the database could not be written (held in memory).
   */
  private nextSeq(atLeast = 0): number {
    return Math.max(this.lastSeq() + 1, atLeast);
  }

  /**
   * Stores a finished interval in the history and its message in the outbox, atomically. `render`
   * builds the message once its sequence number is known.
   */
  commitInterval(
    counts: IntervalCounts,
    render: (seq: number) => { topic: string; payload: string; messageId: string },
    atLeastSeq = 0,
  ): OutboxEntry {
    const tx = this.db.transaction(() => {
      const seq = this.nextSeq(atLeastSeq);
      const m = render(seq);
      const entry = { seq, messageId: m.messageId, topic: m.topic, payload: m.payload };
      this.insert(counts, entry, true);
      return entry;
    });
    try {
      return tx();
    } catch (err) {
      throw new StoreError(
        `cannot write interval ${new Date(counts.startMs).toISOString()} to ${this.path}: ${(err as Error).message}`,
      );
    }
  }

  private insert(counts: IntervalCounts, e: OutboxEntry, queue: boolean): void {
    this.db
      .prepare(
        "INSERT INTO intervals (seq, device_id, start_ms, end_ms, partial, body) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .run(
        e.seq,
        counts.deviceId,
        counts.startMs,
        counts.endMs,
        counts.partial ? 1 : 0,
        JSON.stringify(counts),
      );
    if (queue)
      this.db
        .prepare("INSERT INTO outbox (seq, message_id, topic, payload, created_ms) VALUES (?, ?, ?, ?, ?)")
        .run(e.seq, e.messageId, e.topic, e.payload, Date.now());
    this.db
      .prepare(
        "INSERT INTO meta (key, value) VALUES ('last_seq', ?) ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
      )
      .run(String(e.seq));
    // a saved open interval that this one closes is no longer open: the same transaction drops it,
    // so a crash can never deliver its counts a second time
    this.db
      .prepare("DELETE FROM meta WHERE key = 'open_interval' AND json_extract(value, '$.startMs') <= ?")
      .run(counts.startMs);
  }

  /**
   * Intervals that were held in memory while the database could not be written, with the sequence
   * numbers they already carry, into the history (and, if not yet delivered, the outbox): one
   * transaction, all or nothing.
   */
  commitRecovered(
    items: readonly {
      readonly counts: IntervalCounts;
      readonly entry: OutboxEntry;
      readonly pending: boolean;
    }[],
  ): void {
    const tx = this.db.transaction(() => {
      for (const it of items) this.insert(it.counts, it.entry, it.pending);
    });
    try {
      tx();
    } catch (err) {
      throw new StoreError(
        `cannot write ${items.length} held intervals to ${this.path}: ${(err as Error).message}`,
      );
    }
  }

  /** The interval in progress, saved now and then, so that a crash loses at most what came since. */
  saveOpenInterval(counts: IntervalCounts): void {
    this.db
      .prepare(
        "INSERT INTO meta (key, value) VALUES ('open_interval', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      )
      .run(JSON.stringify(counts));
  }

  /** The interval that was in progress when the process last died (or undefined), removed. */
  takeOpenInterval(): IntervalCounts | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'open_interval'").get() as
      | { value: string }
      | undefined;
    if (!row) return undefined;
    this.clearOpenInterval();
    return JSON.parse(row.value) as IntervalCounts;
  }

  clearOpenInterval(): void {
    this.db.prepare("DELETE FROM meta WHERE key = 'open_interval'").run();
  }

  /** Oldest first. */
  pending(limit = 100): OutboxEntry[] {
    return (
      this.db
        .prepare("SELECT seq, message_id, topic, payload FROM outbox ORDER BY seq LIMIT ?")
        .all(limit) as {
        seq: number;
        message_id: string;
        topic: string;
        payload: string;
      }[]
    ).map((r) => ({ seq: r.seq, messageId: r.message_id, topic: r.topic, payload: r.payload }));
  }

  /** Delivered (PUBACK received): remove from the outbox. */
  acknowledge(seq: number): void {
    this.db.prepare("DELETE FROM outbox WHERE seq = ?").run(seq);
  }

  outboxDepth(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM outbox").get() as { n: number }).n;
  }

  /** Highest sequence number handed out so far (0 for a new database). */
  lastSeq(): number {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'last_seq'").get() as
      | { value: string }
      | undefined;
    return row ? Number(row.value) : 0;
  }

  history(q: HistoryQuery = {}): IntervalCounts[] {
    const rows = this.db
      .prepare("SELECT body FROM intervals WHERE start_ms >= ? AND start_ms < ? ORDER BY start_ms, seq")
      .all(q.fromMs ?? 0, q.toMs ?? Number.MAX_SAFE_INTEGER) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body) as IntervalCounts);
  }

  /** Drops history older than the retention; undelivered outbox entries are kept regardless. */
  prune(retentionDays: number, nowMs = Date.now()): number {
    return this.db.prepare("DELETE FROM intervals WHERE end_ms < ?").run(nowMs - retentionDays * 86_400_000)
      .changes;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
