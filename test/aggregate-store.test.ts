import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { IntervalAggregator } from "../edge/aggregate/aggregator.ts";
import type { Crossing, IntervalCounts, ZoneEvent } from "../edge/domain/types.ts";
import { CountStore, StoreError } from "../edge/store/store.ts";
import { minuteInterval } from "./helpers/minute-interval.ts";

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0); // an interval boundary
const options = {
  deviceId: "dev-1",
  periodSec: 60,
  lines: [{ name: "gate", from: "north", to: "south" }],
  zones: [{ name: "square" }],
  modes: ["pedestrian", "cyclist"],
  maxFrameGapSec: 2,
};
const cross = (tsMs: number, mode = "pedestrian", from = "north", to = "south"): Crossing => ({
  line: "gate",
  from,
  to,
  mode,
  tsMs,
});
const count = (iv: IntervalCounts, mode: string, from = "north") =>
  iv.lines.find((l) => l.mode === mode && l.from === from)!.count;
const none = new Map();

/** Frames at 10 fps from `fromMs` to `toMs`. */
function frames(
  agg: IntervalAggregator,
  fromMs: number,
  toMs: number,
  extra: (ts: number) => Crossing[] = () => [],
): IntervalCounts[] {
  const out: IntervalCounts[] = [];
  for (let ts = fromMs; ts < toMs; ts += 100) out.push(...agg.addFrame(ts, extra(ts), [], none));
  return out;
}

describe("interval aggregation", () => {
  it("aligns intervals to the wall clock and reports every line x direction x mode, zeros included", () => {
    const agg = new IntervalAggregator(options, T0);
    const closed = frames(agg, T0, T0 + 61_000, (ts) =>
      ts === T0 + 5000 || ts === T0 + 7000
        ? [cross(ts)]
        : ts === T0 + 9000
          ? [cross(ts, "cyclist", "south", "north")]
          : [],
    );
    expect(closed).toHaveLength(1);
    const iv = closed[0]!;
    expect([iv.startMs, iv.endMs]).toEqual([T0, T0 + 60_000]);
    expect(iv.partial).toBe(false);
    expect(count(iv, "pedestrian")).toBe(2);
    expect(count(iv, "cyclist", "south")).toBe(1);
    expect(count(iv, "cyclist")).toBe(0);
    expect(iv.lines).toHaveLength(4); // 2 directions x 2 modes
    expect(iv.quality.coverageSec).toBeCloseTo(60, 0);
    expect(iv.quality.meanFps).toBeCloseTo(10, 0);
  });

  it("marks the first interval partial when the device started inside it, and the last one at shutdown", () => {
    const agg = new IntervalAggregator(options, T0 + 20_000);
    const closed = frames(agg, T0 + 20_000, T0 + 60_000 + 30_000);
    expect(closed[0]!.partial).toBe(true);
    expect(closed[0]!.quality.coverageSec).toBeCloseTo(40, 0);
    const last = agg.close(T0 + 90_000);
    expect(last).toHaveLength(1);
    expect(last[0]!.partial).toBe(true);
    expect(last[0]!.startMs).toBe(T0 + 60_000);
    expect(last[0]!.quality.coverageSec).toBeCloseTo(30, 0);
  });

  it("an interval with the camera down says so and never reports zeros as full coverage", () => {
    const agg = new IntervalAggregator(options, T0);
    const out = frames(agg, T0, T0 + 20_000);
    out.push(...agg.cameraChanged(false, T0 + 20_000));
    out.push(...agg.flush(T0 + 150_000)); // no frames for two and a half intervals
    out.push(...agg.cameraChanged(true, T0 + 150_000));
    out.push(...frames(agg, T0 + 150_000, T0 + 181_000));
    expect(out.map((i) => i.quality.coverageSec)).toEqual([expect.closeTo(20, 0), 0, expect.closeTo(30, 0)]);
    expect(out.map((i) => i.quality.cameraDownSec)).toEqual([40, 60, 30]);
    expect(out[0]!.quality.cameraStateChanges).toBe(1);
    expect(out[2]!.quality.cameraStateChanges).toBe(1);
  });

  it("a stalled stream (no frames, camera not reported down) is not observed time", () => {
    const agg = new IntervalAggregator(options, T0);
    frames(agg, T0, T0 + 10_000);
    const out = frames(agg, T0 + 40_000, T0 + 61_000);
    expect(out[0]!.quality.coverageSec).toBeCloseTo(30, 0);
  });

  it("dwell percentiles are suppressed below privacy.minDwellVisitors (default 5)", () => {
    const run = (visitors: number, minDwellVisitors?: number) => {
      const agg = new IntervalAggregator(
        { ...options, ...(minDwellVisitors !== undefined ? { minDwellVisitors } : {}) },
        T0,
      );
      const exits: ZoneEvent[] = Array.from({ length: visitors }, (_, i) => ({
        zone: "square",
        kind: "exit",
        mode: "pedestrian",
        tsMs: T0 + 1000,
        dwellSec: 10 + i,
        staying: false,
      }));
      agg.addFrame(T0 + 1000, [], exits, none);
      return agg.close(T0 + 2000)[0]!.zones.find((z) => z.mode === "pedestrian")!;
    };
    expect(run(4)).toMatchObject({ exits: 4, dwellP50Sec: null, dwellP90Sec: null });
    expect(run(5).dwellP50Sec).not.toBeNull();
    expect(run(5).dwellP90Sec).not.toBeNull();
    expect(run(1, 1).dwellP50Sec).toBe(10);
  });

  it("zones: entries, exits, staying vs passing, dwell p50/p90, time-weighted occupancy", () => {
    const agg = new IntervalAggregator({ ...options, minDwellVisitors: 3 }, T0);
    const exit = (dwellSec: number, staying: boolean): ZoneEvent => ({
      zone: "square",
      kind: "exit",
      mode: "pedestrian",
      tsMs: 0,
      dwellSec,
      staying,
    });
    const enter: ZoneEvent = {
      zone: "square",
      kind: "enter",
      mode: "pedestrian",
      tsMs: 0,
      dwellSec: null,
      staying: null,
    };
    let closed: IntervalCounts[] = [];
    for (let ts = T0; ts <= T0 + 60_000; ts += 1000) {
      const events =
        ts === T0 + 1000
          ? [enter, enter, enter]
          : ts === T0 + 50_000
            ? [exit(5, false), exit(40, true), exit(10, false)]
            : [];
      // 2 inside for the first half, 4 for the second
      const occ = new Map([["square", new Map([["pedestrian", ts < T0 + 30_000 ? 2 : 4]])]]);
      closed = [...closed, ...agg.addFrame(ts, [], events, occ)];
    }
    const z = closed[0]!.zones.find((x) => x.mode === "pedestrian")!;
    expect(z).toMatchObject({
      entries: 3,
      exits: 3,
      staying: 1,
      passing: 2,
      dwellP50Sec: 10,
      dwellP90Sec: 40,
      occupancyMax: 4,
    });
    expect(z.occupancyMean).toBeCloseTo(3, 0);
    expect(closed[0]!.zones.find((x) => x.mode === "cyclist")).toMatchObject({
      entries: 0,
      dwellP50Sec: null,
    });
  });

  it("carries nothing per person", () => {
    const agg = new IntervalAggregator(options, T0);
    const [iv] = frames(agg, T0, T0 + 60_100, (ts) => (ts === T0 + 100 ? [cross(ts)] : []));
    const json = JSON.stringify(iv);
    for (const field of ["trackId", "box", "x1", "tsMs", "velocity"]) expect(json).not.toContain(field);
  });
});

function interval(startMs: number, n = 1): IntervalCounts {
  return minuteInterval("dev-1", startMs, [
    { line: "gate", from: "north", to: "south", mode: "pedestrian", count: n },
  ]);
}
const render = (c: IntervalCounts) => (seq: number) => ({
  topic: "t",
  payload: JSON.stringify({ seq, start: c.startMs }),
  messageId: `dev-1:${c.startMs}`,
});

describe("SQLite store", () => {
  const file = () => join(mkdtempSync(join(tmpdir(), "store-")), "counts.db");

  it("migrates a new database, commits history and outbox together, delivers in order", () => {
    const path = file();
    const store = new CountStore(path);
    expect(store.schemaVersion).toBe(2);
    for (let i = 0; i < 5; i++)
      store.commitInterval(interval(T0 + i * 60_000, i), render(interval(T0 + i * 60_000)));
    expect(store.outboxDepth()).toBe(5);
    expect(store.pending(10).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(store.history().map((h) => h.lines[0]!.count)).toEqual([0, 1, 2, 3, 4]);
    store.acknowledge(1);
    store.acknowledge(2);
    expect(store.pending(10).map((e) => e.seq)).toEqual([3, 4, 5]);
    store.close();
    // reopened: the outbox and the sequence survive
    const again = new CountStore(path);
    expect(again.pending(10).map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(again.commitInterval(interval(T0 + 600_000), render(interval(T0 + 600_000))).seq).toBe(6);
    expect(again.history({ fromMs: T0 + 120_000, toMs: T0 + 240_000 })).toHaveLength(2);
    again.close();
  });

  it("sums crossings per line, direction and mode since a time (the page's today), in SQLite", () => {
    const store = new CountStore(file());
    for (let i = 0; i < 4; i++)
      store.commitInterval(interval(T0 + i * 60_000, i + 1), render(interval(T0 + i * 60_000)));
    // from the second interval's start up to (not including) the fourth's: 2 + 3
    expect(store.lineTotals(T0 + 60_000, T0 + 180_000)).toEqual([
      { line: "gate", from: "north", to: "south", mode: "pedestrian", count: 5 },
    ]);
    expect(store.lineTotals(T0 + 240_000, T0 + 300_000)).toEqual([]);
    store.close();
  });

  it("prunes history by age but never undelivered messages", () => {
    const store = new CountStore(file());
    store.commitInterval(interval(T0), render(interval(T0)));
    store.commitInterval(interval(T0 + 100 * 86_400_000), render(interval(T0 + 100 * 86_400_000)));
    expect(store.prune(90, T0 + 100 * 86_400_000)).toBe(1);
    expect(store.history()).toHaveLength(1);
    expect(store.outboxDepth()).toBe(2);
    store.close();
  });

  it("a full database fails the commit with a clear error and writes nothing half", () => {
    const store = new CountStore(file(), 0.05);
    let err: unknown;
    for (let i = 0; i < 2000 && !err; i++) {
      try {
        store.commitInterval(
          {
            ...interval(T0 + i * 60_000),
            zones: Array.from({ length: 20 }, (_, k) => ({
              zone: `z${k}`,
              mode: "pedestrian",
              entries: 1,
              exits: 1,
              occupancyMean: 1,
              occupancyMax: 1,
              staying: 0,
              passing: 1,
              dwellP50Sec: 1,
              dwellP90Sec: 2,
            })),
          },
          render(interval(T0 + i * 60_000)),
        );
      } catch (e) {
        err = e;
      }
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/cannot write interval .* full/);
    expect(store.outboxDepth()).toBe(store.history().length);
    store.close();
  });

  it("an unopenable database is a clear error naming the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "store-"));
    chmodSync(dir, 0o500);
    const path = join(dir, "sub", "x.db");
    expect(() => new CountStore(path)).toThrow(new RegExp(`cannot open database ${path}`));
  });
});
