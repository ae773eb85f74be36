import Database from "better-sqlite3";
import type { ReceivedInterval } from "./messages.ts";

/** One gate's crossings in one interval of its device. */
export interface GateCount {
  readonly gate: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly entered: number;
  readonly exited: number;
}

export interface StoredGateCount extends GateCount {
  readonly device: string;
  readonly seq: number;
}

/** Per gate and time bucket (15 min, an hour), for the CSV export. */
export interface GateBucket {
  readonly gate: string;
  readonly startMs: number;
  readonly entered: number;
  readonly exited: number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS intervals (
    device TEXT NOT NULL,
    seq INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    coverage REAL NOT NULL,
    received_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    -- a redelivery repeats seq and start; a device whose database was replaced starts seq again
    PRIMARY KEY (device, seq, start_ms)
  );
  CREATE INDEX IF NOT EXISTS intervals_start ON intervals (start_ms);
  CREATE TABLE IF NOT EXISTS gate_counts (
    device TEXT NOT NULL,
    seq INTEGER NOT NULL,
    gate TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    entered INTEGER NOT NULL,
    exited INTEGER NOT NULL,
    PRIMARY KEY (device, seq, start_ms, gate)
  );
  CREATE INDEX IF NOT EXISTS gate_counts_start ON gate_counts (start_ms);
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/**
 * The site's history in SQLite: every interval received, once per (device, seq), and what it means
 * for each gate. An interval is committed before the broker is acknowledged, so a kill at any moment
 * loses nothing (the broker redelivers what was not acknowledged) and counts nothing twice.
 */
export class SiteStore {
  private readonly db: Database.Database;
  private readonly insertInterval: Database.Statement;
  private readonly insertGate: Database.Statement;
  private readonly countSeq: Database.Statement;

  /** `readonly`: for reports beside a running site process (which keeps writing). */
  constructor(path: string, options: { readonly?: boolean } = {}) {
    try {
      this.db = new Database(path, {
        readonly: options.readonly === true,
        fileMustExist: options.readonly === true,
      });
    } catch (err) {
      throw new Error(`site database ${path}: ${(err as Error).message}`);
    }
    if (!options.readonly) {
      this.db.pragma("journal_mode = WAL");
      // an acknowledged interval must survive a power cut too: the broker will not send it again
      this.db.pragma("synchronous = FULL");
      this.db.exec(SCHEMA);
    }
    this.insertInterval = this.db.prepare(
      "INSERT OR IGNORE INTO intervals (device, seq, start_ms, end_ms, coverage, received_ms, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.insertGate = this.db.prepare(
      "INSERT INTO gate_counts (device, seq, gate, start_ms, end_ms, entered, exited) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.countSeq = this.db.prepare("SELECT COUNT(*) AS n FROM intervals WHERE device = ? AND seq = ?");
  }

  /**
   * Records an interval and its gates' counts in one transaction. `duplicate`: this (device, seq) was
   * stored already (a redelivery); `seq-reused`: stored, but the device had sent this seq for another
   * interval before (its database was replaced, so its numbering started again).
   */
  add(
    iv: ReceivedInterval,
    body: string,
    gates: readonly GateCount[],
    receivedMs: number,
  ): "added" | "duplicate" | "seq-reused" {
    return this.db.transaction(() => {
      const r = this.insertInterval.run(
        iv.deviceId,
        iv.seq,
        iv.startMs,
        iv.endMs,
        iv.coverage,
        receivedMs,
        body,
      );
      if (r.changes === 0) return "duplicate";
      for (const g of gates)
        this.insertGate.run(iv.deviceId, iv.seq, g.gate, g.startMs, g.endMs, g.entered, g.exited);
      const same = this.countSeq.get(iv.deviceId, iv.seq) as { n: number };
      return same.n > 1 ? "seq-reused" : "added";
    })();
  }

  /** Gate counts of intervals starting in [fromMs, toMs). */
  gateCounts(fromMs: number, toMs: number): StoredGateCount[] {
    return this.db
      .prepare(
        "SELECT device, seq, gate, start_ms AS startMs, end_ms AS endMs, entered, exited FROM gate_counts WHERE start_ms >= ? AND start_ms < ?",
      )
      .all(fromMs, toMs) as StoredGateCount[];
  }

  /** Sequence numbers received per device for intervals starting in [fromMs, toMs). */
  seqStats(
    fromMs: number,
    toMs: number,
  ): { device: string; count: number; minSeq: number; maxSeq: number }[] {
    return this.db
      .prepare(
        "SELECT device, COUNT(*) AS count, MIN(seq) AS minSeq, MAX(seq) AS maxSeq FROM intervals WHERE start_ms >= ? AND start_ms < ? GROUP BY device",
      )
      .all(fromMs, toMs) as { device: string; count: number; minSeq: number; maxSeq: number }[];
  }

  /** Entries and exits per gate and bucket of `bucketMs`, for intervals starting in [fromMs, toMs). */
  buckets(fromMs: number, toMs: number, bucketMs: number): GateBucket[] {
    return this.db
      .prepare(
        `SELECT gate, start_ms - start_ms % ? AS startMs, SUM(entered) AS entered, SUM(exited) AS exited
         FROM gate_counts WHERE start_ms >= ? AND start_ms < ? GROUP BY gate, startMs ORDER BY startMs, gate`,
      )
      .all(bucketMs, fromMs, toMs) as GateBucket[];
  }

  /**
   * Recomputes every interval's gate counts with `gatesOf` (after the gates changed in site.yaml: a
   * corrected `in` side applies to the whole history). Runs only when `fingerprint` differs from the
   * one stored.
   */
  regateIfChanged(
    fingerprint: string,
    gatesOf: (iv: ReceivedInterval) => GateCount[],
    read: (body: string) => ReceivedInterval | string,
  ): boolean {
    if (this.getMeta("gates") === fingerprint) return false;
    const rows = this.db.prepare("SELECT body FROM intervals").iterate() as Iterable<{ body: string }>;
    const recomputed: [ReceivedInterval, GateCount[]][] = [];
    for (const { body } of rows) {
      const iv = read(body);
      if (typeof iv !== "string") recomputed.push([iv, gatesOf(iv)]);
    }
    this.db.transaction(() => {
      this.db.exec("DELETE FROM gate_counts");
      for (const [iv, gates] of recomputed)
        for (const g of gates)
          this.insertGate.run(iv.deviceId, iv.seq, g.gate, g.startMs, g.endMs, g.entered, g.exited);
      this.setMeta("gates", fingerprint);
    })();
    return true;
  }

  /** Drops history of intervals that started before `beforeMs`. */
  prune(beforeMs: number): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM intervals WHERE start_ms < ?").run(beforeMs);
      this.db.prepare("DELETE FROM gate_counts WHERE start_ms < ?").run(beforeMs);
    })();
  }

  getMeta(key: string): string | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.db
      .prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      )
      .run(key, value);
  }

  intervalCount(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM intervals").get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
