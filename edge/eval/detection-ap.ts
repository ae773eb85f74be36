import { boxArea, intersectionArea, iou } from "../domain/geometry.ts";
import type { Box } from "../domain/types.ts";

/** COCO-style average precision (101-point interpolation), for checking the whole detect stage. */

export interface LabelledBox {
  readonly imageId: string;
  readonly classId: number;
  readonly box: Box;
  /** A COCO "iscrowd" region: detections on it are ignored, never counted as false positives. */
  readonly crowd: boolean;
}

export interface ScoredBox {
  readonly imageId: string;
  readonly classId: number;
  readonly score: number;
  readonly box: Box;
}

export interface ClassAp {
  readonly classId: number;
  readonly groundTruths: number;
  readonly detections: number;
  /** NaN when the class has no ground truth. */
  readonly ap50: number;
  readonly ap5095: number;
}

export const COCO_IOU_THRESHOLDS: readonly number[] = Array.from({ length: 10 }, (_, i) => 0.5 + 0.05 * i);
const RECALL_POINTS = Array.from({ length: 101 }, (_, i) => i / 100);
const MAX_DETECTIONS_PER_IMAGE = 100;

interface Matched {
  readonly score: number;
  /** 1 true positive, 0 false positive, -1 ignored (matched a crowd region). */
  readonly outcome: 1 | 0 | -1;
}

function matchImage(
  gts: readonly LabelledBox[],
  dets: readonly ScoredBox[],
  threshold: number,
  out: Matched[],
): void {
  // Non-crowd ground truth first, as COCO does, so a crowd region only absorbs what matched nothing else.
  const ordered = [...gts].sort((a, b) => Number(a.crowd) - Number(b.crowd));
  const taken = new Uint8Array(ordered.length);
  for (const d of dets) {
    let best = -1;
    let bestIou = Math.min(threshold, 1 - 1e-10);
    for (let g = 0; g < ordered.length; g++) {
      const gt = ordered[g]!;
      if (taken[g] && !gt.crowd) continue;
      if (best >= 0 && !ordered[best]!.crowd && gt.crowd) break;
      // COCO scores a crowd region by the share of the detection inside it.
      const overlap = gt.crowd
        ? intersectionArea(d.box, gt.box) / Math.max(boxArea(d.box), 1e-9)
        : iou(d.box, gt.box);
      if (overlap < bestIou) continue;
      bestIou = overlap;
      best = g;
    }
    if (best < 0) out.push({ score: d.score, outcome: 0 });
    else {
      const gt = ordered[best]!;
      if (!gt.crowd) taken[best] = 1;
      out.push({ score: d.score, outcome: gt.crowd ? -1 : 1 });
    }
  }
}

function averagePrecision(matches: Matched[], groundTruths: number): number {
  if (groundTruths === 0) return Number.NaN;
  const sorted = matches.filter((m) => m.outcome !== -1).sort((a, b) => b.score - a.score);
  const precision: number[] = [];
  const recall: number[] = [];
  let tp = 0;
  let fp = 0;
  for (const m of sorted) {
    if (m.outcome === 1) tp++;
    else fp++;
    precision.push(tp / (tp + fp));
    recall.push(tp / groundTruths);
  }
  for (let i = precision.length - 2; i >= 0; i--) precision[i] = Math.max(precision[i]!, precision[i + 1]!);
  let sum = 0;
  let k = 0;
  for (const r of RECALL_POINTS) {
    while (k < recall.length && recall[k]! < r) k++;
    sum += k < recall.length ? precision[k]! : 0;
  }
  return sum / RECALL_POINTS.length;
}

export function evaluateDetections(
  groundTruth: readonly LabelledBox[],
  detections: readonly ScoredBox[],
  classIds: readonly number[],
): ClassAp[] {
  const key = (imageId: string, classId: number) => `${classId}\u0000${imageId}`;
  const gtBy = new Map<string, LabelledBox[]>();
  for (const g of groundTruth)
    gtBy.set(key(g.imageId, g.classId), [...(gtBy.get(key(g.imageId, g.classId)) ?? []), g]);
  const detBy = new Map<string, ScoredBox[]>();
  for (const d of detections)
    detBy.set(key(d.imageId, d.classId), [...(detBy.get(key(d.imageId, d.classId)) ?? []), d]);
  return classIds.map((classId) => {
    const images = new Set<string>();
    for (const k of [...gtBy.keys(), ...detBy.keys()]) {
      const [c, img] = k.split("\u0000") as [string, string];
      if (Number(c) === classId) images.add(img);
    }
    const gtCount = groundTruth.filter((g) => g.classId === classId && !g.crowd).length;
    const detCount = detections.filter((d) => d.classId === classId).length;
    const apAt = (threshold: number) => {
      const matches: Matched[] = [];
      for (const img of images) {
        const dets = [...(detBy.get(key(img, classId)) ?? [])]
          .sort((a, b) => b.score - a.score)
          .slice(0, MAX_DETECTIONS_PER_IMAGE);
        matchImage(gtBy.get(key(img, classId)) ?? [], dets, threshold, matches);
      }
      return averagePrecision(matches, gtCount);
    };
    const aps = COCO_IOU_THRESHOLDS.map(apAt);
    return {
      classId,
      groundTruths: gtCount,
      detections: detCount,
      ap50: aps[0]!,
      ap5095: aps.reduce((a, b) => a + b, 0) / aps.length,
    };
  });
}

/** Mean over classes that have ground truth. */
export function meanAp(results: readonly ClassAp[], field: "ap50" | "ap5095"): number {
  const valid = results.filter((r) => !Number.isNaN(r[field]));
  return valid.length === 0 ? Number.NaN : valid.reduce((a, r) => a + r[field], 0) / valid.length;
}
