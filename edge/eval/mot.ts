import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { iou } from "../domain/geometry.ts";
import type { Box } from "../domain/types.ts";
import { assignMinCost } from "../track/hungarian.ts";

/** A MOTChallenge-style sequence folder: seqinfo.ini, gt/gt.txt, and a video file or img1/. */
export interface MotSequence {
  readonly dir: string;
  readonly name: string;
  readonly frameRate: number;
  readonly length: number;
  readonly width: number;
  readonly height: number;
  /** A video file in the folder, if there is one. */
  readonly video: string | undefined;
  readonly imageDir: string;
}

export interface GtBox {
  readonly id: number;
  readonly box: Box;
}

export function readSequence(dir: string): MotSequence {
  const iniPath = join(dir, "seqinfo.ini");
  if (!existsSync(iniPath)) throw new Error(`${dir} is not a MOTChallenge sequence: no seqinfo.ini`);
  const ini = new Map<string, string>();
  for (const line of readFileSync(iniPath, "utf8").split("\n")) {
    const m = line.match(/^\s*([A-Za-z]+)\s*=\s*(.*?)\s*$/);
    if (m) ini.set(m[1]!, m[2]!);
  }
  const num = (k: string) => {
    const v = Number(ini.get(k));
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${iniPath}: ${k} missing or invalid`);
    return v;
  };
  const video = readdirSync(dir).find((f) => /\.(avi|mp4|mkv|mov|webm)$/i.test(f));
  return {
    dir,
    name: ini.get("name") ?? dir,
    frameRate: num("frameRate"),
    length: num("seqLength"),
    width: num("imWidth"),
    height: num("imHeight"),
    video: video ? join(dir, video) : undefined,
    imageDir: join(dir, ini.get("imDir") ?? "img1"),
  };
}

/** gt.txt rows with conf = 1, grouped by frame (1-based). */
export function readGroundTruth(path: string): Map<number, GtBox[]> {
  const frames = new Map<number, GtBox[]>();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const f = line.split(",").map(Number);
    if (f.length < 7 || !Number.isFinite(f[0])) continue;
    const [frame, id, left, top, w, h, conf] = f as [number, number, number, number, number, number, number];
    if (conf === 0) continue;
    const list = frames.get(frame) ?? [];
    list.push({ id, box: { x1: left, y1: top, x2: left + w, y2: top + h } });
    frames.set(frame, list);
  }
  return frames;
}

export function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export interface MotMetrics {
  readonly frames: number;
  readonly gtBoxes: number;
  readonly gtIds: number;
  readonly predictedIds: number;
  readonly falseNegatives: number;
  readonly falsePositives: number;
  readonly idSwitches: number;
  readonly fragmentations: number;
  readonly mota: number;
  readonly idf1: number;
}

/**
 * CLEAR MOT (MOTA, ID switches, fragmentations) and IDF1 at IoU 0.5. Per frame, correspondences that
 * still overlap are kept, the rest are assigned optimally; IDF1 uses the globally best one-to-one
 * mapping of ground-truth to predicted identities.
 */
export class MotAccumulator {
  private frames = 0;
  private gtBoxes = 0;
  private fn = 0;
  private fp = 0;
  private idsw = 0;
  private frag = 0;
  private readonly lastMatch = new Map<number, number>();
  private readonly wasTracked = new Map<number, boolean>();
  private readonly predCount = new Map<number, number>();
  private readonly gtCount = new Map<number, number>();
  /** Frames in which gt id g and predicted id p overlap at IoU >= 0.5, keyed `g:p`. */
  private readonly overlap = new Map<string, number>();

  add(gt: readonly GtBox[], predicted: readonly GtBox[]): void {
    this.frames++;
    this.gtBoxes += gt.length;
    for (const g of gt) this.gtCount.set(g.id, (this.gtCount.get(g.id) ?? 0) + 1);
    for (const p of predicted) this.predCount.set(p.id, (this.predCount.get(p.id) ?? 0) + 1);
    for (const g of gt) {
      for (const p of predicted) {
        if (iou(g.box, p.box) >= 0.5)
          this.overlap.set(`${g.id}:${p.id}`, (this.overlap.get(`${g.id}:${p.id}`) ?? 0) + 1);
      }
    }
    const matchedGt = new Map<number, number>();
    const usedPred = new Set<number>();
    // keep last frame's correspondences that still hold
    for (const g of gt) {
      const prev = this.lastMatch.get(g.id);
      const p = prev === undefined ? undefined : predicted.find((x) => x.id === prev);
      if (p && !usedPred.has(p.id) && iou(g.box, p.box) >= 0.5) {
        matchedGt.set(g.id, p.id);
        usedPred.add(p.id);
      }
    }
    const gRest = gt.filter((g) => !matchedGt.has(g.id));
    const pRest = predicted.filter((p) => !usedPred.has(p.id));
    if (gRest.length > 0 && pRest.length > 0) {
      const cost = new Float64Array(gRest.length * pRest.length);
      gRest.forEach((g, i) => {
        pRest.forEach((p, j) => {
          const v = iou(g.box, p.box);
          cost[i * pRest.length + j] = v >= 0.5 ? 1 - v : Number.POSITIVE_INFINITY;
        });
      });
      const a = assignMinCost(cost, gRest.length, pRest.length);
      gRest.forEach((g, i) => {
        const j = a[i]!;
        if (j < 0) return;
        const p = pRest[j]!;
        const prev = this.lastMatch.get(g.id);
        if (prev !== undefined && prev !== p.id) this.idsw++;
        matchedGt.set(g.id, p.id);
        usedPred.add(p.id);
      });
    }
    for (const g of gt) {
      const m = matchedGt.get(g.id);
      if (m === undefined) {
        this.fn++;
        this.wasTracked.set(g.id, false);
      } else {
        if (this.wasTracked.get(g.id) === false && this.lastMatch.has(g.id)) this.frag++;
        this.wasTracked.set(g.id, true);
        this.lastMatch.set(g.id, m);
      }
    }
    this.fp += predicted.length - usedPred.size;
  }

  result(): MotMetrics {
    const gIds = [...this.gtCount.keys()];
    const pIds = [...this.predCount.keys()];
    let idtp = 0;
    if (gIds.length > 0 && pIds.length > 0) {
      let maxOverlap = 0;
      for (const v of this.overlap.values()) maxOverlap = Math.max(maxOverlap, v);
      const cost = new Float64Array(gIds.length * pIds.length);
      gIds.forEach((g, i) => {
        pIds.forEach((p, j) => {
          cost[i * pIds.length + j] = maxOverlap - (this.overlap.get(`${g}:${p}`) ?? 0);
        });
      });
      const a = assignMinCost(cost, gIds.length, pIds.length);
      gIds.forEach((g, i) => {
        const j = a[i]!;
        if (j >= 0) idtp += this.overlap.get(`${g}:${pIds[j]}`) ?? 0;
      });
    }
    let predBoxes = 0;
    for (const v of this.predCount.values()) predBoxes += v;
    return {
      frames: this.frames,
      gtBoxes: this.gtBoxes,
      gtIds: gIds.length,
      predictedIds: pIds.length,
      falseNegatives: this.fn,
      falsePositives: this.fp,
      idSwitches: this.idsw,
      fragmentations: this.frag,
      mota: 1 - (this.fn + this.fp + this.idsw) / Math.max(1, this.gtBoxes),
      idf1: (2 * idtp) / Math.max(1, this.gtBoxes + predBoxes),
    };
  }
}
