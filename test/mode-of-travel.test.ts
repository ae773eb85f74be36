import { describe, expect, it } from "vitest";
import type { Detection } from "../edge/domain/types.ts";
import { EVAL_PIPELINE_OPTIONS } from "../edge/eval/count-eval.ts";
import { Pipeline, type PipelineOptions } from "../edge/pipeline/pipeline.ts";
import { DEFAULT_MODE_OPTIONS } from "../edge/track/mode-of-travel.ts";

const SCENE = { width: 2000, height: 1000 };
const FPS = 25;

/** A vertical line halfway across the scene. */
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

const box = (cx: number, bottom: number, w: number, h: number) => ({
  x1: cx - w / 2,
  y1: bottom - h,
  x2: cx + w / 2,
  y2: bottom,
});
/** A person 90 px tall; riding, their bicycle's box lies under them (wheels 10 px lower). */
const person = (cx: number, bottom: number): Detection => ({
  classId: 0,
  label: "person",
  score: 0.9,
  box: box(cx, bottom, 30, 90),
});
const twoWheeler = (label: "bicycle" | "motorcycle", cx: number, bottom: number): Detection => ({
  classId: label === "bicycle" ? 1 : 3,
  label,
  score: 0.8,
  box: box(cx, bottom, 60, 45),
});

/** Crossings per mode over `frames` frames of scripted detections at 25 fps (1 height a second: 3.6 px a frame). */
function countModes(
  frames: number,
  detectionsAt: (i: number) => Detection[],
  options: PipelineOptions = EVAL_PIPELINE_OPTIONS,
): Record<string, number> {
  const pipeline = new Pipeline(options, GEOMETRY);
  const out: Record<string, number> = {};
  for (let i = 0; i < frames; i++)
    for (const c of pipeline.step({ tsMs: (i * 1000) / FPS, ...SCENE }, detectionsAt(i)).crossings)
      out[c.mode] = (out[c.mode] ?? 0) + 1;
  return out;
}

describe("mode of travel beyond the two-wheeler's box", () => {
  it("a rider whose bicycle box vanishes for 3 s (longer than a lost track is kept) is still a cyclist when crossing", () => {
    // 1.7 heights per second: a slow cyclist, below riding speed, so only having been seen riding tells
    const x = (i: number) => 400 + 6 * i;
    const counts = countModes(200, (i) => {
      const dets = [person(x(i), 290)];
      // the bicycle is seen for the first 2 s, then hidden (by the rider in front, or missed) from
      // 300 px before the line (crossed at frame 100) until 1 s after it
      if (i < 50 || i >= 125) dets.push(twoWheeler("bicycle", x(i), 300));
      return dets;
    });
    expect(counts).toEqual({ cyclist: 1 });
  });

  it("a platoon of riders at cycling speed whose bicycles are hidden by the riders in front: cyclists, not pedestrians", () => {
    // six riders 50 px apart at 3 heights per second, no two-wheeler box under any of them
    const counts = countModes(120, (i) =>
      Array.from({ length: 6 }, (_, k) => person(300 + 11 * i - 50 * k, 300 + 100 * k)),
    );
    expect(counts).toEqual({ cyclist: 6 });
  });

  it("riders without their two-wheeler ride what the riders seen with theirs ride here (a motorbike platoon)", () => {
    // four riders on motorcycles, then six whose motorcycles are hidden, all at 4 heights per second
    const counts = countModes(150, (i) => {
      const dets: Detection[] = [];
      for (let k = 0; k < 4; k++) {
        const x = 500 + 14 * i - 60 * k;
        dets.push(person(x, 290 + 100 * k), twoWheeler("motorcycle", x, 300 + 100 * k));
      }
      for (let k = 0; k < 6; k++) dets.push(person(14 * (i - 30) - 60 * k, 700 + 40 * k));
      return dets;
    });
    expect(counts).toEqual({ motorcyclist: 10 });
  });

  it("walkers and a jogger stay pedestrians; with the rule off a fast person is one too", () => {
    const walkers = (i: number) => [
      person(700 + 3.2 * i, 300), // 0.9 heights per second
      person(600 + 6.5 * i, 500), // a jogger, 1.8 heights per second
    ];
    expect(countModes(200, walkers)).toEqual({ pedestrian: 2 });
    const off = { ...EVAL_PIPELINE_OPTIONS, modes: { ...DEFAULT_MODE_OPTIONS, riderSpeed: 0 } };
    expect(countModes(100, (i) => [person(500 + 11 * i, 300)], off)).toEqual({ pedestrian: 1 });
  });
});
