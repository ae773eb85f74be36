import Database from "better-sqlite3";
import type { IntervalCounts, LineCount } from "../domain/types.ts";

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
  // 2: the non-zero counts as rows, for aggregated history queries that SQLite answers by itself
  `ALTER TABLE intervals ADD COLUMN coverage_sec REAL NOT NULL DEFAULT 0;
   UPDATE intervals SET coverage_sec = COALESCE(json_extract(body, '$.quality.coverageSec'), 0);
   CREATE TABLE line_counts (
     seq INTEGER NOT NULL,
     start_ms INTEGER NOT NULL,
     line TEXT NOT NULL,
     dir_from TEXT NOT NULL,
     dir_to TEXT NOT NULL,
     mode TEXT NOT NULL,
     count INTEGER NOT NULL,
     PRIMARY KEY (seq, line, dir_from, dir_to, mode)
   );
   -- covers the per-bucket coverage query: the large body column is never read for it
   CREATE INDEX intervals_coverage ON intervals (start_ms, coverage_sec, partial);
   CREATE INDEX line_counts_start ON line_counts (start_ms);
   CREATE TABLE zone_counts (
     seq INTEGER NOT NULL,
     start_ms INTEGER NOT NULL,
     zone TEXT NOT NULL,
     mode TEXT NOT NULL,
     entries INTEGER NOT NULL,
     exits INTEGER NOT NULL,
     occupancy_mean REAL NOT NULL,
     occupancy_max INTEGER NOT NULL,
     staying INTEGER NOT NULL,
     passing INTEGER NOT NULL,
     coverage_sec REAL NOT NULL,
     PRIMARY KEY (seq, zone, mode)
   );
   CREATE INDEX zone_counts_start ON zone_counts (start_ms);
   INSERT INTO line_counts
     SELECT i.seq, i.start_ms, json_extract(l.value, '$.line'), json_extract(l.value, '$.from'),
            json_extract(l.value, '$.to'), json_extract(l.value, '$.mode'), json_extract(l.value, '$.count')
     FROM intervals i, json_each(i.body, '$.lines') l WHERE json_extract(l.value, '$.count') > 0;
   INSERT INTO zone_counts
     SELECT i.seq, i.start_ms, json_extract(z.value, '$.zone'), json_extract(z.value, '$.mode'),
            json_extract(z.value, '$.entries'), json_extract(z.value, '$.exits'),
            json_extract(z.value, '$.occupancyMean'), json_extract(z.value, '$.occupancyMax'),
            json_extract(z.value, '$.staying'), json_extract(z.value, '$.passing'), i.coverage_sec
     FROM intervals i, json_each(i.body, '$.zones') z
     WHERE json_extract(z.value, '$.entries') > 0 OR json_extract(z.value, '$.exits') > 0
        OR json_extract(z.value, '$.occupancyMax') > 0;`,
];

/** Where a page of history ends: the next page starts after this interval. */
export interface HistoryCursor {
  readonly startMs: number;
  readonly seq: number;
}

/** Zone counts summed over a bucket. */
export interface ZoneBucketCount {
  readonly zone: string;
  readonly mode: string;
  readonly entries: number;
  readonly exits: number;
  /** Mean occupancy weighted by each interval's coverage. */
  readonly occupancyMean: number;
  readonly occupancyMax: number;
  readonly staying: number;
  readonly passing: number;
}

/** One bucket of an aggregated history query (rows with zero counts are left out). */
export interface HistoryBucket {
  readonly startMs: number;
  readonly endMs: number;
  /** Stored intervals that started in the bucket. */
  readonly intervals: number;
  readonly coverageSec: number;
  /** Some interval in the bucket was partial. */
  readonly partial: boolean;
  readonly lines: LineCount[];
  readonly zones: ZoneBucketCount[];
}

export interface HistoryFilter {
  readonly fromMs: number;
  readonly toMs: number;
  readonly line?: string | undefined;
  readonly zone?: string | undefined;
}

/** Intervals in [from, to) after a cursor, in delivery order of the history (start, then seq). */
const PAGE_WHERE =
  "WHERE start_ms >= ? AND start_ms < ? AND (start_ms > ? OR (start_ms = ? AND seq > ?)) ORDER BY start_ms, seq";
function pageParams(f: HistoryFilter & { readonly after?: HistoryCursor | undefined }): number[] {
  const after = f.after ?? { startMs: f.fromMs - 1, seq: Number.MAX_SAFE_INTEGER };
  return [f.fromMs, f.toMs, after.startMs, after.startMs, after.seq];
}

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
        "INSERT INTO intervals (seq, device_id, start_ms, end_ms, partial, body, coverage_sec) VALUES (?, ?, ?, ?, ?, ?, ?)",
      )
      .run(
        e.seq,
        counts.deviceId,
        counts.startMs,
        counts.endMs,
        counts.partial ? 1 : 0,
        JSON.stringify(counts),
        counts.quality.coverageSec,
      );
    const line = this.db.prepare(
      "INSERT INTO line_counts (seq, start_ms, line, dir_from, dir_to, mode, count) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    for (const l of counts.lines)
      if (l.count > 0) line.run(e.seq, counts.startMs, l.line, l.from, l.to, l.mode, l.count);
    const zone = this.db.prepare(
      "INSERT INTO zone_counts (seq, start_ms, zone, mode, entries, exits, occupancy_mean, occupancy_max, staying, passing, coverage_sec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    for (const z of counts.zones)
      if (z.entries > 0 || z.exits > 0 || z.occupancyMax > 0)
        zone.run(
          e.seq,
          counts.startMs,
          z.zone,
          z.mode,
          z.entries,
          z.exits,
          z.occupancyMean,
          z.occupancyMax,
          z.staying,
          z.passing,
          counts.quality.coverageSec,
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
    return readCounts(row.value);
  }

  clearOpenInterval(): void {
    this.db.prepare("DELETE FROM meta WHERE key = 'open_interval'").run();
  }

  /**
   * What the scene check learnt about a view (numbers, no picture: docs/privacy.md), kept so that a
   * restart judges the view against it; `view` names the part of the camera's view it was learnt on.
   */
  saveSceneNormal(view: string, normal: string): void {
    this.db
      .prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      )
      .run(`scene:${view}`, normal);
  }

  sceneNormal(view: string): string | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(`scene:${view}`) as
      | { value: string }
      | undefined;
    return row?.value;
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
    return rows.map((r) => readCounts(r.body));
  }

  /**
   * One page of stored intervals in [fromMs, toMs), oldest first, after `after`; at most `limit`.
   * Reading and parsing is bounded by `limit`: the caller pages on with the returned cursor.
   */
  historyPage(f: HistoryFilter & { readonly after?: HistoryCursor | undefined; readonly limit: number }): {
    intervals: IntervalCounts[];
    next: HistoryCursor | undefined;
  } {
    const rows = this.db
      .prepare(`SELECT seq, start_ms, body FROM intervals ${PAGE_WHERE} LIMIT ?`)
      .all(...pageParams(f), f.limit + 1) as {
      seq: number;
      start_ms: number;
      body: string;
    }[];
    const more = rows.length > f.limit;
    const page = more ? rows.slice(0, f.limit) : rows;
    const last = page.at(-1);
    return {
      intervals: page.map((r) => readCounts(r.body)),
      next: more && last ? { startMs: last.start_ms, seq: last.seq } : undefined,
    };
  }

  /** The last interval of the page `historyPage(f)` would return, if more follow it; else undefined. */
  pageEnd(
    f: HistoryFilter & { readonly after?: HistoryCursor | undefined; readonly limit: number },
  ): HistoryCursor | undefined {
    const rows = this.db
      .prepare(`SELECT seq, start_ms FROM intervals ${PAGE_WHERE} LIMIT 2 OFFSET ?`)
      .all(...pageParams(f), f.limit - 1) as { seq: number; start_ms: number }[];
    return rows.length === 2 ? { startMs: rows[0]!.start_ms, seq: rows[0]!.seq } : undefined;
  }

  /**
   * Counts summed into buckets of `bucketMs` (aligned to the epoch, so days are UTC days) over
   * [fromMs, toMs). SQLite sums the non-zero rows; nothing is parsed in JavaScript.
   */
  aggregate(f: HistoryFilter & { readonly bucketMs: number }): HistoryBucket[] {
    const b = Math.round(f.bucketMs);
    const buckets = new Map<number, HistoryBucket>();
    const ivs = this.db
      .prepare(
        `SELECT start_ms - (start_ms % ?) AS bucket, COUNT(*) AS n, SUM(coverage_sec) AS coverage, MAX(partial) AS partial
         FROM intervals WHERE start_ms >= ? AND start_ms < ? GROUP BY bucket ORDER BY bucket`,
      )
      .all(b, f.fromMs, f.toMs) as { bucket: number; n: number; coverage: number; partial: number }[];
    for (const r of ivs)
      buckets.set(r.bucket, {
        startMs: r.bucket,
        endMs: r.bucket + b,
        intervals: r.n,
        coverageSec: Math.round(r.coverage * 1000) / 1000,
        partial: r.partial > 0,
        lines: [],
        zones: [],
      });
    if (f.zone === undefined || f.line !== undefined) {
      const lines = this.db
        .prepare(
          `SELECT start_ms - (start_ms % ?) AS bucket, line, dir_from, dir_to, mode, SUM(count) AS count
           FROM line_counts WHERE start_ms >= ? AND start_ms < ? AND (? IS NULL OR line = ?)
           GROUP BY bucket, line, dir_from, dir_to, mode ORDER BY bucket, line, dir_from, mode`,
        )
        .all(b, f.fromMs, f.toMs, f.line ?? null, f.line ?? null) as {
        bucket: number;
        line: string;
        dir_from: string;
        dir_to: string;
        mode: string;
        count: number;
      }[];
      for (const r of lines)
        buckets
          .get(r.bucket)
          ?.lines.push({ line: r.line, from: r.dir_from, to: r.dir_to, mode: r.mode, count: r.count });
    }
    if (f.line === undefined || f.zone !== undefined) {
      const zones = this.db
        .prepare(
          `SELECT start_ms - (start_ms % ?) AS bucket, zone, mode, SUM(entries) AS entries, SUM(exits) AS exits,
                  SUM(occupancy_mean * coverage_sec) AS occ_time, MAX(occupancy_max) AS occ_max,
                  SUM(staying) AS staying, SUM(passing) AS passing
           FROM zone_counts WHERE start_ms >= ? AND start_ms < ? AND (? IS NULL OR zone = ?)
           GROUP BY bucket, zone, mode ORDER BY bucket, zone, mode`,
        )
        .all(b, f.fromMs, f.toMs, f.zone ?? null, f.zone ?? null) as {
        bucket: number;
        zone: string;
        mode: string;
        entries: number;
        exits: number;
        occ_time: number;
        occ_max: number;
        staying: number;
        passing: number;
      }[];
      for (const r of zones) {
        const bucket = buckets.get(r.bucket);
        if (!bucket) continue;
        bucket.zones.push({
          zone: r.zone,
          mode: r.mode,
          entries: r.entries,
          exits: r.exits,
          occupancyMean:
            bucket.coverageSec > 0 ? Math.round((r.occ_time / bucket.coverageSec) * 1000) / 1000 : 0,
          occupancyMax: r.occ_max,
          staying: r.staying,
          passing: r.passing,
        });
      }
    }
    return [...buckets.values()];
  }

  /** Crossings per line, direction and mode summed over the intervals starting in [fromMs, toMs). */
  lineTotals(fromMs: number, toMs: number): LineCount[] {
    const rows = this.db
      .prepare(
        `SELECT line, dir_from, dir_to, mode, SUM(count) AS count FROM line_counts
         WHERE start_ms >= ? AND start_ms < ? GROUP BY line, dir_from, dir_to, mode ORDER BY line, dir_from, mode`,
      )
      .all(fromMs, toMs) as { line: string; dir_from: string; dir_to: string; mode: string; count: number }[];
    return rows.map((r) => ({ line: r.line, from: r.dir_from, to: r.dir_to, mode: r.mode, count: r.count }));
  }

  /** Drops history older than the retention; undelivered outbox entries are kept regardless. */
  prune(retentionDays: number, nowMs = Date.now()): number {
    const cutoff = nowMs - retentionDays * 86_400_000;
    return this.db.transaction(() => {
      for (const table of ["line_counts", "zone_counts"])
        this.db
          .prepare(`DELETE FROM ${table} WHERE seq IN (SELECT seq FROM intervals WHERE end_ms < ?)`)
          .run(cutoff);
      return this.db.prepare("DELETE FROM intervals WHERE end_ms < ?").run(cutoff).changes;
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** A stored interval; bodies written before `quality.geometryChanged` existed read as unchanged. */
function readCounts(body: string): IntervalCounts {
  const counts = JSON.parse(body) as IntervalCounts;
  if (counts.quality.geometryChanged === undefined)
    return { ...counts, quality: { ...counts.quality, geometryChanged: false } };
  return counts;
}
