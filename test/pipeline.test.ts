import { describe, expect, it } from "vitest";
import { DEFAULT_LINE_OPTIONS } from "../edge/count/line-counter.ts";
import { DEFAULT_ZONE_OPTIONS } from "../edge/count/zone-counter.ts";
import type { Detection, IntervalCounts } from "../edge/domain/types.ts";
import { type Geometry, Pipeline, type PipelineOptions } from "../edge/pipeline/pipeline.ts";
import { DEFAULT_TRACKER_OPTIONS } from "../edge/track/byte-tracker.ts";
import { DEFAULT_MODE_OPTIONS } from "../edge/track/mode-of-travel.ts";

const options: PipelineOptions = {
  tracker: DEFAULT_TRACKER_OPTIONS,
  modes: DEFAULT_MODE_OPTIONS,
  line: DEFAULT_LINE_OPTIONS,
  zone: DEFAULT_ZONE_OPTIONS,
  aggregation: { deviceId: "test", periodSec: 60, modes: ["pedestrian"], maxFrameGapSec: 2 },
};

/** A vertical line at x (relative); walking its points upwards, the left side is west. */
const verticalLine = (name: string, x: number) => ({
  name,
  points: [
    [x, 1],
    [x, 0],
  ] as const,
  from: "west",
  to: "east",
});

const geometry = (...lines: ReturnType<typeof verticalLine>[]): Geometry => ({
  lines,
  zones: [
    {
      name: "east-half",
      polygon: [
        [0.5, 0],
        [1, 0],
        [1, 1],
        [0.5, 1],
      ],
      dwellThresholdSec: 30,
    },
  ],
});

/** One pedestrian walking east at 20 px per 100 ms frame, feet at y = 600 in a 1000 x 1000 scene. */
const walker = (i: number, width = 1000): Detection[] => {
  const x = ((300 + 20 * i) / 1000) * width;
  const s = width / 1000;
  return [
    {
      classId: 0,
      label: "person",
      score: 0.9,
      box: { x1: x - 20 * s, y1: 500 * s, x2: x + 20 * s, y2: 600 * s },
    },
  ];
};

const lineRows = (iv: IntervalCounts) =>
  Object.fromEntries(
    iv.lines.filter((l) => l.count > 0).map((l) => [`${l.line}:${l.from}>${l.to}:${l.mode}`, l.count]),
  );

describe("Pipeline: detections in, crossings and intervals out", () => {
  it("counts a pedestrian crossing a line once, and enters the zone once", () => {
    const p = new Pipeline(options, geometry(verticalLine("middle", 0.5)));
    const crossings: string[] = [];
    let entries = 0;
    for (let i = 0; i <= 30; i++) {
      const r = p.step({ tsMs: i * 100, width: 1000, height: 1000 }, walker(i));
      for (const c of r.crossings) crossings.push(`${c.line}:${c.from}>${c.to}:${c.mode}@${c.tsMs}`);
      entries += r.zoneEvents.filter((e) => e.kind === "enter").length;
      expect(r.activeTracks).toBe(1);
    }
    // the feet pass x = 500 between frames 10 and 11, 15 px past it (0.15 box heights) at frame 11
    expect(crossings).toEqual(["middle:west>east:pedestrian@1100"]);
    expect(entries).toBe(1);
    const [iv] = p.close(3100);
    expect(iv?.partial).toBe(true);
    expect(iv?.quality.geometryChanged).toBe(false);
    expect(iv && lineRows(iv)).toEqual({ "middle:west>east:pedestrian": 1 });
    expect(iv?.zones.find((z) => z.mode === "pedestrian")?.entries).toBe(1);
  });

  it("relative geometry follows the frame size: the same walk at 640 px wide counts the same", () => {
    const p = new Pipeline(options, geometry(verticalLine("middle", 0.5)));
    const times: number[] = [];
    for (let i = 0; i <= 30; i++)
      for (const c of p.step({ tsMs: i * 100, width: 640, height: 640 }, walker(i, 640)).crossings)
        times.push(c.tsMs);
    expect(times).toEqual([1100]);
  });

  it("replacing the lines while running keeps the track; the new line counts into intervals from the next one, flagged", () => {
    const p = new Pipeline(options, geometry(verticalLine("old", 0.5)));
    p.begin(0);
    const periodMs = options.aggregation.periodSec * 1000;
    const counted: string[] = [];
    const shown: string[] = [];
    const closed: IntervalCounts[] = [];
    // walking east 20 px per 100 ms frame from x = 300: x = 500 at frame 10, x = 800 at frame 25
    for (let i = 0; i <= 30; i++) {
      if (i === 15) closed.push(...p.replaceGeometry(geometry(verticalLine("new", 0.8)), i * 100));
      const r = p.step({ tsMs: i * 100, width: 1000, height: 1000 }, walker(i));
      for (const c of r.crossings) counted.push(`${c.line}@${c.tsMs}`);
      for (const c of r.savedLineCrossings) shown.push(`${c.line}@${c.tsMs}`);
      closed.push(...r.intervals);
    }
    // the page sees the saved line count at once (the same track, confirmed long ago)...
    expect(shown).toEqual(["old@1100", "new@2600"]);
    expect(p.currentGeometry.lines.map((l) => l.name)).toEqual(["new"]);
    // ...the interval in progress keeps the line it began with, to its end
    expect(counted).toEqual(["old@1100"]);
    expect(closed).toEqual([]);
    closed.push(...p.flush(periodMs));
    expect(closed).toHaveLength(1);
    const first = closed[0] as IntervalCounts;
    expect(first.quality.geometryChanged).toBe(false);
    expect(first.partial).toBe(false);
    expect(new Set(first.lines.map((l) => l.line))).toEqual(new Set(["old"]));
    expect(lineRows(first)).toEqual({ "old:west>east:pedestrian": 1 });
    // the zone did not change: the visitor inside it is one entry
    expect(first.zones.find((z) => z.mode === "pedestrian")?.entries).toBe(1);
    // from the boundary on the new line is counted, and that interval says the lines changed
    const next = p.close(periodMs + 500)[0] as IntervalCounts;
    expect(next.startMs).toBe(periodMs);
    expect(next.quality.geometryChanged).toBe(true);
    expect(new Set(next.lines.map((l) => l.line))).toEqual(new Set(["new"]));
  });

  it("saves come and go inside an interval: every published line counted its whole interval, one geometry per message", () => {
    const p = new Pipeline(options, geometry(verticalLine("a", 0.5)));
    p.begin(0);
    const closed: IntervalCounts[] = [];
    const periodMs = options.aggregation.periodSec * 1000;
    // twenty saves in ten seconds, each with lines of other names
    for (let i = 0; i < 20; i++) {
      closed.push(...p.replaceGeometry(geometry(verticalLine(`s${i}`, 0.3 + i / 100)), 500 * i + 1));
      closed.push(...p.step({ tsMs: 500 * i + 2, width: 1000, height: 1000 }, walker(i)).intervals);
    }
    closed.push(...p.close(periodMs * 2));
    // one message per period, each covering its whole period (not twenty slivers of one)
    expect(closed.map((iv) => iv.startMs)).toEqual([0, periodMs]);
    expect(closed.map((iv) => iv.partial)).toEqual([false, false]);
    // the first reports the line it began with, the second only the last save's: no pile-up
    expect(closed.map((iv) => [...new Set(iv.lines.map((l) => l.line))])).toEqual([["a"], ["s19"]]);
  });

  it("intervals close on the wall clock through flush, and on frames through step", () => {
    const p = new Pipeline(options, geometry(verticalLine("middle", 0.5)));
    p.begin(30_000);
    expect(p.flush(59_999)).toEqual([]);
    const [first] = p.flush(60_000);
    expect(first?.startMs).toBe(0);
    expect(first?.partial).toBe(true);
    const r = p.step({ tsMs: 120_500, width: 1000, height: 1000 }, []);
    expect(r.intervals.map((iv) => iv.startMs)).toEqual([60_000]);
  });
});
