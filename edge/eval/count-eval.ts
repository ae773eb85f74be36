import { join } from "node:path";
import { croppedView, decodeVideoFrames } from "../capture/ffmpeg.ts";
import { DEFAULT_LINE_OPTIONS } from "../count/line-counter.ts";
import { DEFAULT_ZONE_OPTIONS } from "../count/zone-counter.ts";
import type { Detector } from "../detect/detector.ts";
import { DEFAULT_MOTORCYCLE_SHARE } from "../domain/classes.ts";
import { type CountKey, CrossingTotals } from "../domain/crossing-totals.ts";
import { anchorPoint, segmentsIntersect, sideOfPolyline } from "../domain/geometry.ts";
import type { Detection } from "../domain/types.ts";
import { detectionView, isWholeView, type RegionSetting, WHOLE_VIEW } from "../domain/view.ts";
import {
  type FrameResult,
  Pipeline,
  type PipelineOptions,
  type RelativeLine,
  toLineSpec,
  twoWheelerPrior,
} from "../pipeline/pipeline.ts";
import { DEFAULT_TRACKER_OPTIONS } from "../track/byte-tracker.ts";
import { DEFAULT_MODE_OPTIONS } from "../track/mode-of-travel.ts";
import { type GtBox, readGroundTruth, readSequence } from "./mot.ts";

export type { RelativeLine };

/** What running the pipeline on a sequence needs to know of it. */
export interface CountingSequenceVideo {
  readonly video: string;
  readonly width: number;
  readonly height: number;
  readonly frameRate: number;
  readonly frames: number;
  readonly lines: readonly RelativeLine[];
}

/** Vertical and horizontal lines at 25, 50 and 75 % of the frame, so any sequence can be scored. */
export const DEFAULT_EVAL_LINES: readonly RelativeLine[] = [
  ...[25, 50, 75].map((p) => ({
    name: `x${p}`,
    points: [
      [p / 100, 1],
      [p / 100, 0],
    ] as const,
    from: "left",
    to: "right",
  })),
  ...[25, 50, 75].map((p) => ({
    name: `y${p}`,
    points: [
      [0, p / 100],
      [1, p / 100],
    ] as const,
    from: "top",
    to: "bottom",
  })),
];

/** Count per line and direction, keyed `line:from>to`. */
export type DirectionCounts = Map<string, number>;

const key = (line: string, from: string, to: string) => `${line}:${from}>${to}`;

/** True crossings: ground-truth feet paths over each line, once per identity per direction. */
export function groundTruthCrossings(seqDir: string, lines: readonly RelativeLine[]): DirectionCounts {
  const seq = readSequence(seqDir);
  const gt = readGroundTruth(join(seqDir, "gt", "gt.txt"));
  const paths = new Map<number, { x: number; y: number }[]>();
  for (const frame of [...gt.keys()].sort((a, b) => a - b)) {
    for (const g of gt.get(frame)!) {
      const list = paths.get(g.id) ?? [];
      list.push(anchorPoint(g.box, "bottom-center"));
      paths.set(g.id, list);
    }
  }
  const counts: DirectionCounts = new Map();
  for (const rel of lines) {
    const line = toLineSpec(rel, seq.width, seq.height);
    counts.set(key(line.name, line.from, line.to), 0);
    counts.set(key(line.name, line.to, line.from), 0);
    for (const path of paths.values()) {
      const done = new Set<string>();
      let prev: { x: number; y: number; side: -1 | 1 } | undefined;
      for (const p of path) {
        const { side } = sideOfPolyline(line.points, p.x, p.y);
        if (side === 0) continue;
        if (prev && prev.side !== side) {
          const hit = line.points.some(
            (q, i) =>
              i > 0 &&
              segmentsIntersect(
                prev!.x,
                prev!.y,
                p.x,
                p.y,
                line.points[i - 1]!.x,
                line.points[i - 1]!.y,
                q.x,
                q.y,
              ),
          );
          if (hit) {
            const k = prev.side < 0 ? key(line.name, line.from, line.to) : key(line.name, line.to, line.from);
            if (!done.has(k)) {
              done.add(k);
              counts.set(k, counts.get(k)! + 1);
            }
          }
        }
        prev = { x: p.x, y: p.y, side };
      }
    }
  }
  return counts;
}

export interface CountRun {
  /** Crossings per line, direction and mode (`line:from>to:mode`). */
  readonly counted: Map<CountKey, number>;
  readonly frames: number;
  readonly msPerFrame: { readonly detect: number; readonly trackAndCount: number };
}

/** The counter's default stage options, for a sequence that comes with no device configuration. */
export const EVAL_PIPELINE_OPTIONS: PipelineOptions = {
  tracker: { ...DEFAULT_TRACKER_OPTIONS, classPrior: twoWheelerPrior(DEFAULT_MOTORCYCLE_SHARE) },
  modes: DEFAULT_MODE_OPTIONS,
  line: DEFAULT_LINE_OPTIONS,
  zone: DEFAULT_ZONE_OPTIONS,
  // one interval for the whole sequence: evaluation reads the crossings, not the intervals
  aggregation: { deviceId: "eval", periodSec: 366 * 86_400, modes: [], maxFrameGapSec: 2 },
};

/** The counter's own pipeline on a sequence's video: the detector, then `Pipeline.step` per frame. */
export async function runCountPipeline(
  seq: CountingSequenceVideo,
  detector: Detector,
  options: {
    pipeline?: PipelineOptions;
    /** Where the detector looks (`camera.region`): the video is cropped to it as a camera would be. */
    region?: { readonly region: RegionSetting; readonly margin: number };
    onFrame?: (i: number, total: number) => void;
    /** Each frame's result, with the frame's number (from 1, as in MOTChallenge files). */
    onStep?: (frame: number, result: FrameResult) => void;
  } = {},
): Promise<CountRun> {
  const wanted = options.region
    ? detectionView(
        options.region.region,
        options.region.margin,
        { lines: seq.lines, zones: [] },
        {
          sceneAspect: seq.width / seq.height,
          inputAspect: detector.info.inputWidth / detector.info.inputHeight,
        },
      )
    : WHOLE_VIEW;
  const view = isWholeView(wanted) ? undefined : croppedView(wanted, seq.width, seq.height);
  const size = view
    ? detector.frameSizeFor(Math.trunc(seq.width * view.width), Math.trunc(seq.height * view.height))
    : detector.frameSizeFor(seq.width, seq.height);
  const pipeline = new Pipeline(options.pipeline ?? EVAL_PIPELINE_OPTIONS, { lines: seq.lines, zones: [] });
  const totals = new CrossingTotals();
  let frames = 0;
  let detectMs = 0;
  let trackMs = 0;
  const scene = { width: seq.width, height: seq.height };
  for await (const rgb of decodeVideoFrames(seq.video, size.width, size.height, undefined, view)) {
    const tsMs = (frames * 1000) / seq.frameRate;
    const t0 = performance.now();
    const dets = await detector.detect(
      { kind: "rgb", data: rgb, width: size.width, height: size.height },
      scene,
      view,
    );
    const t1 = performance.now();
    const result = pipeline.step({ tsMs, width: seq.width, height: seq.height }, dets);
    for (const x of result.crossings) totals.add(x);
    trackMs += performance.now() - t1;
    detectMs += t1 - t0;
    frames++;
    options.onStep?.(frames, result);
    options.onFrame?.(frames, seq.frames);
  }
  return {
    counted: totals.byKey(),
    frames,
    msPerFrame: { detect: detectMs / frames, trackAndCount: trackMs / frames },
  };
}

/** Per line and direction (`line:from>to`), whatever the mode. */
export function byDirection(counts: ReadonlyMap<CountKey, number>): DirectionCounts {
  const out: DirectionCounts = new Map();
  for (const [k, n] of counts) {
    const d = k.slice(0, k.lastIndexOf(":"));
    out.set(d, (out.get(d) ?? 0) + n);
  }
  return out;
}

export interface CountComparison {
  readonly rows: readonly {
    line: string;
    direction: string;
    counted: number;
    truth: number;
    accuracy: number | null;
  }[];
  readonly totalCounted: number;
  readonly totalTruth: number;
  /** 1 - sum |counted - true| / sum true over all lines and directions. */
  readonly overallAccuracy: number;
}

export function compareCounts(counted: DirectionCounts, truth: DirectionCounts): CountComparison {
  const rows = [...truth.entries()].map(([k, t]) => {
    const [line, direction] = k.split(":") as [string, string];
    const c = counted.get(k) ?? 0;
    return { line, direction, counted: c, truth: t, accuracy: t > 0 ? 1 - Math.abs(c - t) / t : null };
  });
  const totalTruth = rows.reduce((s, r) => s + r.truth, 0);
  const totalCounted = rows.reduce((s, r) => s + r.counted, 0);
  const err = rows.reduce((s, r) => s + Math.abs(r.counted - r.truth), 0);
  return {
    rows,
    totalCounted,
    totalTruth,
    overallAccuracy: totalTruth > 0 ? 1 - err / totalTruth : Number.NaN,
  };
}

/**
 * The counting stages alone: a MOTChallenge sequence's ground-truth boxes (perfect detections, as
 * pedestrians) through the pipeline, every crossing listed with its frame. Against the ground
 * truth's own crossings this isolates tracking and counting from the detector.
 */
export function countGroundTruthBoxes(
  seqDir: string,
  lines: readonly RelativeLine[],
  pipelineOptions: PipelineOptions = EVAL_PIPELINE_OPTIONS,
  /** What a detector would see of each frame's people (default: the whole boxes), e.g. `occludedByNearer`. */
  seenOf: (people: readonly GtBox[]) => readonly GtBox[] = (people) => people,
): {
  readonly counts: DirectionCounts;
  readonly crossings: readonly { frame: number; key: string; estimated: boolean }[];
} {
  const seq = readSequence(seqDir);
  const gt = readGroundTruth(join(seqDir, "gt", "gt.txt"));
  const pipeline = new Pipeline(pipelineOptions, { lines, zones: [] });
  const counts: DirectionCounts = new Map();
  const crossings: { frame: number; key: string; estimated: boolean }[] = [];
  for (let frame = 1; frame <= seq.length; frame++) {
    const dets: Detection[] = seenOf(gt.get(frame) ?? []).map((g) => ({
      classId: 0,
      label: "person",
      score: 0.9,
      box: g.box,
    }));
    const result = pipeline.step(
      { tsMs: ((frame - 1) * 1000) / seq.frameRate, width: seq.width, height: seq.height },
      dets,
    );
    for (const x of result.crossings) {
      const k = key(x.line, x.from, x.to);
      counts.set(k, (counts.get(k) ?? 0) + 1);
      crossings.push({ frame, key: k, estimated: x.estimated === true });
    }
  }
  return { counts, crossings };
}
