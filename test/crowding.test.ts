import { describe, expect, it } from "vitest";
import type { Detection, IntervalCounts } from "../edge/domain/types.ts";
import { EVAL_PIPELINE_OPTIONS } from "../edge/eval/count-eval.ts";
import type { GtBox } from "../edge/eval/mot.ts";
import { occludedByNearer } from "../edge/eval/occlusion.ts";
import { Pipeline, type PipelineOptions } from "../edge/pipeline/pipeline.ts";

const SCENE = { width: 2000, height: 1200 };
const OPTIONS: PipelineOptions = {
  ...EVAL_PIPELINE_OPTIONS,
  aggregation: { ...EVAL_PIPELINE_OPTIONS.aggregation, periodSec: 60 },
};
const GEOMETRY = {
  lines: [
    {
      name: "v",
      points: [
        [0.5, 1],
        [0.5, 0],
      ] as const,
      from: "west",
      to: "east",
    },
  ],
  zones: [],
};

/**
 * Walkers 200 px tall in rows `rowGap` px apart in depth (feet lower: nearer), walking right at one
 * height per second, 10 s at 10 fps; each row's boxes cut where the row in front covers them, as a
 * detector boxes the visible part. The closed interval.
 */
function walkInRows(rows: number, perRow: number, rowGap: number): IntervalCounts {
  const pipeline = new Pipeline(OPTIONS, GEOMETRY);
  for (let f = 0; f < 100; f++) {
    const people: GtBox[] = [];
    for (let r = 0; r < rows; r++)
      for (let k = 0; k < perRow; k++) {
        const x = 200 + 20 * f + 90 * k + 25 * r;
        const feet = 400 + rowGap * r;
        people.push({ id: r * perRow + k, box: { x1: x, y1: feet - 200, x2: x + 70, y2: feet } });
      }
    const dets: Detection[] = occludedByNearer(people).map((g) => ({
      classId: 0,
      label: "person",
      score: 0.9,
      box: g.box,
    }));
    pipeline.step({ tsMs: f * 100, ...SCENE }, dets);
  }
  const [interval] = pipeline.close(60_000);
  if (!interval) throw new Error("no interval closed");
  return interval;
}

describe("intervals whose counts rest on saturated tracking are flagged", () => {
  it("a crowd whose rows hide each other's feet: quality.crowdedSec", () => {
    const q = walkInRows(3, 5, 80).quality;
    expect(q.crowdedSec).toBeGreaterThan(5);
  });

  it("a crossing counted on estimated feet is told in quality.estimatedCrossings", () => {
    // walking down the picture across a horizontal line while someone nearer stands in front of it
    const pipeline = new Pipeline(OPTIONS, {
      lines: [
        {
          name: "h",
          points: [
            [0, 0.6],
            [1, 0.6],
          ] as const,
          from: "north",
          to: "south",
        },
      ],
      zones: [],
    });
    for (let f = 0; f < 110; f++) {
      const feet = 560 + 3 * f;
      const nearer = f >= 30 && f < 75 ? { x1: 280, y1: 640, x2: 420, y2: 980 } : undefined;
      const boxes = [{ x1: 320, y1: feet - 200, x2: 380, y2: nearer ? Math.min(feet, nearer.y1 + 4) : feet }];
      if (nearer) boxes.push(nearer);
      pipeline.step(
        { tsMs: f * 40, ...SCENE },
        boxes.map((box) => ({ classId: 0, label: "person", score: 0.9, box })),
      );
    }
    const [interval] = pipeline.close(60_000);
    expect(interval?.lines.find((l) => l.from === "north" && l.mode === "pedestrian")?.count).toBe(1);
    expect(interval?.quality.estimatedCrossings).toBe(1);
  });

  it("the same walkers spread out (no one's feet hidden): no flag", () => {
    const q = walkInRows(3, 5, 260).quality;
    expect(q.crowdedSec).toBeUndefined();
    expect(q.estimatedCrossings).toBeUndefined();
  });
});
