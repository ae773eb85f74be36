import { join } from "node:path";
import { seededRandom } from "../domain/random.ts";
import type { Detection } from "../domain/types.ts";
import { ByteTracker, DEFAULT_TRACKER_OPTIONS, type TrackerOptions } from "../track/byte-tracker.ts";
import {
  type GtBox,
  gaussian,
  MotAccumulator,
  type MotMetrics,
  readGroundTruth,
  readSequence,
} from "./mot.ts";

export interface NoiseOptions {
  /** Share of ground-truth boxes dropped per frame (missed detections). */
  readonly dropRate: number;
  /** Standard deviation of box centre and size jitter, as a fraction of the box size. */
  readonly jitter: number;
  readonly seed: number;
}

export const DEFAULT_NOISE: NoiseOptions = { dropRate: 0.1, jitter: 0.05, seed: 1 };

export interface TrackEvalReport {
  readonly sequence: string;
  readonly noise: NoiseOptions;
  readonly metrics: MotMetrics;
}

/**
 * Feeds a sequence's ground-truth boxes, with detections dropped and boxes jittered, through the
 * tracker and scores its identities against the truth: this isolates the tracker from the detector.
 */
export function evaluateTracker(
  seqDir: string,
  noise: NoiseOptions = DEFAULT_NOISE,
  tracker: TrackerOptions = DEFAULT_TRACKER_OPTIONS,
): TrackEvalReport {
  const seq = readSequence(seqDir);
  const gt = readGroundTruth(join(seqDir, "gt", "gt.txt"));
  const rand = seededRandom(noise.seed);
  const t = new ByteTracker(tracker);
  const acc = new MotAccumulator();
  for (let frame = 1; frame <= seq.length; frame++) {
    const truth = gt.get(frame) ?? [];
    const dets: Detection[] = [];
    for (const g of truth) {
      if (rand() < noise.dropRate) continue;
      const w = g.box.x2 - g.box.x1;
      const h = g.box.y2 - g.box.y1;
      const cx = (g.box.x1 + g.box.x2) / 2 + gaussian(rand) * noise.jitter * w;
      const cy = (g.box.y1 + g.box.y2) / 2 + gaussian(rand) * noise.jitter * h;
      const nw = w * (1 + gaussian(rand) * noise.jitter);
      const nh = h * (1 + gaussian(rand) * noise.jitter);
      dets.push({
        classId: 0,
        label: "person",
        score: 0.5 + 0.5 * rand(),
        box: { x1: cx - nw / 2, y1: cy - nh / 2, x2: cx + nw / 2, y2: cy + nh / 2 },
      });
    }
    const tsMs = ((frame - 1) * 1000) / seq.frameRate;
    const u = t.update(dets, tsMs);
    const predicted: GtBox[] = [];
    for (const tr of u.tracks)
      if (tr.state === "confirmed" && tr.lastSeenMs === tsMs) predicted.push({ id: tr.id, box: tr.box });
    acc.add(truth, predicted);
  }
  return { sequence: seq.name, noise, metrics: acc.result() };
}
