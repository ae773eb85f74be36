import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerHistoryRoute } from "../edge/api/history.ts";
import type { IntervalCounts } from "../edge/domain/types.ts";
import { CountStore } from "../edge/store/store.ts";
import { minuteInterval } from "./helpers/minute-interval.ts";

const PERIOD = 60_000;
const DAYS = 14;
const N = (DAYS * 86_400_000) / PERIOD; // 20,160 intervals: 14 days at 60 s
const HOUR = 3_600_000;
const END = Math.floor(Date.now() / HOUR) * HOUR; // hour-aligned, so that 1-h buckets are whole
const START = END - N * PERIOD;

/** Interval i: line "gate" counts i % 7 pedestrians a>b and 1 cyclist b>a; zone "square" i % 3 entries. */
function interval(i: number): IntervalCounts {
  return minuteInterval(
    "hist-1",
    START + i * PERIOD,
    [
      { line: "gate", from: "a", to: "b", mode: "pedestrian", count: i % 7 },
      { line: "gate", from: "b", to: "a", mode: "cyclist", count: 1 },
      { line: "gate", from: "a", to: "b", mode: "car", count: 0 },
    ],
    [
      {
        zone: "square",
        mode: "pedestrian",
        entries: i % 3,
        exits: i % 3,
        occupancyMean: i % 2 === 0 ? 1 : 3,
        occupancyMax: 4,
        staying: 0,
        passing: i % 3,
        dwellP50Sec: null,
        dwellP90Sec: null,
      },
    ],
  );
}

let store: CountStore;
const app = Fastify();

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "hist-"));
  store = new CountStore(join(dir, "counts.db"));
  const items = Array.from({ length: N }, (_, i) => ({
    counts: interval(i),
    entry: { seq: i + 1, messageId: `m${i}`, topic: "t", payload: "{}" },
    pending: false,
  }));
  store.commitRecovered(items);
  registerHistoryRoute(app, { deviceId: "hist-1", database: () => store, databaseError: () => null });
});
afterAll(() => store.close());

interface Page {
  next: string | null;
  intervals: { intervalStart: string; lines: { count: number }[] }[];
}

describe("GET /api/counts over a 14-day history (20,160 intervals)", () => {
  it("without from: the 24 hours before `to`, in pages of at most 1000 with a cursor", async () => {
    const now = await app.inject("/api/counts?limit=10000");
    const recent = (JSON.parse(now.body) as Page).intervals.map((iv) => Date.parse(iv.intervalStart));
    expect(recent.length).toBeGreaterThan(1300);
    expect(Math.min(...recent)).toBeGreaterThanOrEqual(Date.now() - 86_400_000 - 60_000);
    const first = await app.inject(`/api/counts?to=${END}`);
    expect(first.statusCode).toBe(200);
    const p1 = JSON.parse(first.body) as Page;
    expect(p1.intervals).toHaveLength(1000);
    expect(p1.next).not.toBeNull();
    expect(first.headers.link).toMatch(/rel="next"/);
    const p2 = JSON.parse((await app.inject(`/api/counts?to=${END}&cursor=${p1.next}`)).body) as Page;
    expect(p2.next).toBeNull();
    const all = [...p1.intervals, ...p2.intervals].map((iv) => Date.parse(iv.intervalStart));
    expect(all).toHaveLength(1440);
    expect(all[0]).toBe(END - 86_400_000);
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort((a, b) => a - b)).toEqual(all);
  });

  it("the work per request is bounded: limit above 10,000 is refused, the whole history takes pages", async () => {
    expect((await app.inject("/api/counts?limit=10001")).statusCode).toBe(400);
    expect((await app.inject("/api/counts?resolution=2h")).statusCode).toBe(400);
    const r = await app.inject(`/api/counts?from=${START}&limit=10000`);
    const page = JSON.parse(r.body) as Page;
    expect(page.intervals).toHaveLength(10_000);
    expect(page.next).not.toBeNull();
  });

  it("resolution=1h sums in the database: 336 buckets whose totals equal the raw intervals'", async () => {
    const r = await app.inject(`/api/counts?from=${START}&resolution=1h`);
    const body = JSON.parse(r.body) as {
      buckets: {
        intervals: number;
        coverageSec: number;
        lines: { mode: string; count: number }[];
        zones: { entries: number; occupancyMean: number; occupancyMax: number }[];
      }[];
    };
    expect(body.buckets).toHaveLength(DAYS * 24);
    expect(body.buckets.every((b) => b.intervals === 60 && b.coverageSec === 3600)).toBe(true);
    let pedestrians = 0;
    let entries = 0;
    for (let i = 0; i < N; i++) {
      pedestrians += i % 7;
      entries += i % 3;
    }
    const sum = (mode: string) =>
      body.buckets.reduce(
        (s, b) => s + b.lines.filter((l) => l.mode === mode).reduce((t, l) => t + l.count, 0),
        0,
      );
    expect(sum("pedestrian")).toBe(pedestrians);
    expect(sum("cyclist")).toBe(N);
    expect(body.buckets.some((b) => b.lines.some((l) => l.mode === "car"))).toBe(false); // zeros left out
    expect(body.buckets.reduce((s, b) => s + b.zones[0]!.entries, 0)).toBe(entries);
    // occupancy: alternately 1 and 3 over equal coverage -> a mean of 2, weighted by coverage
    expect(body.buckets[0]!.zones[0]!.occupancyMean).toBe(2);
    expect(body.buckets[0]!.zones[0]!.occupancyMax).toBe(4);
  });

  it("CSV is streamed in the long format, one row per interval and line x direction x mode", async () => {
    const r = await app.inject(`/api/counts?format=csv&from=${END - 3_600_000}&line=gate`);
    expect(r.headers["content-type"]).toMatch(/text\/csv/);
    const rows = r.body.trim().split("\n");
    expect(rows[0]).toMatch(/^interval_start,interval_end,partial,coverage_sec,kind/);
    expect(rows).toHaveLength(1 + 60 * 3); // 60 intervals, 3 line rows each, zones filtered out
    const daily = await app.inject(`/api/counts?format=csv&from=${START}&resolution=1d`);
    expect(daily.body.split("\n")[0]).toMatch(/^bucket_start,bucket_end,intervals/);
  });

  it("a database from before the count tables is migrated: aggregates include its old intervals", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hist-v1-"));
    const path = join(dir, "old.db");
    const old = new Database(path);
    old.exec(`CREATE TABLE intervals (seq INTEGER PRIMARY KEY, device_id TEXT NOT NULL, start_ms INTEGER NOT NULL,
      end_ms INTEGER NOT NULL, partial INTEGER NOT NULL, body TEXT NOT NULL);
      CREATE INDEX intervals_start ON intervals (start_ms);
      CREATE TABLE outbox (seq INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL,
      payload TEXT NOT NULL, created_ms INTEGER NOT NULL);
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`);
    const ins = old.prepare("INSERT INTO intervals VALUES (?, ?, ?, ?, 0, ?)");
    for (let i = 0; i < 120; i++) {
      const iv = interval(i);
      ins.run(i + 1, iv.deviceId, iv.startMs, iv.endMs, JSON.stringify(iv));
    }
    old.pragma("user_version = 1");
    old.close();
    const migrated = new CountStore(path);
    const buckets = migrated.aggregate({ fromMs: START, toMs: END, bucketMs: 3_600_000 });
    migrated.close();
    expect(buckets).toHaveLength(2);
    expect(buckets[0]!.coverageSec).toBe(3600);
    let pedestrians = 0;
    for (let i = 0; i < 60; i++) pedestrians += i % 7;
    expect(buckets[0]!.lines.find((l) => l.mode === "pedestrian")!.count).toBe(pedestrians);
  });
});
