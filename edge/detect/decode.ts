import type { Candidates } from "./candidates.ts";
import { OUTPUT_LAYOUTS, type OutputLayout } from "./model-descriptor.ts";

/** A model output as the decoders see it: float32 data and its dimensions. */
export interface OutputTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

export interface DecodeParams {
  readonly inputWidth: number;
  readonly inputHeight: number;
  /** Strides of the raw-head layouts (YOLOX, PicoDet). */
  readonly strides: readonly number[];
  readonly confThreshold: number;
  /** 1 for class ids the counter keeps, 0 otherwise; indexed by class id. */
  readonly allowed: Uint8Array;
}

export class UnknownLayoutError extends Error {
  override readonly name = "UnknownLayoutError";
}

export interface ResolvedLayout {
  readonly layout: OutputLayout;
  readonly numClasses: number;
}

function shapes(outputs: readonly OutputTensor[]): string {
  return outputs.map((o) => `${o.name} [${o.dims.join(", ")}]`).join(", ");
}

function gridCells(w: number, h: number, strides: readonly number[], round: (x: number) => number): number {
  let n = 0;
  for (const s of strides) n += round(w / s) * round(h / s);
  return n;
}

/**
 * Works out which of the known output layouts a model produces, from the output shapes alone
 * (and the declared layout, which must then fit). Throws naming the shapes found and the layouts known.
 */
export function resolveLayout(
  outputs: readonly OutputTensor[],
  inputWidth: number,
  inputHeight: number,
  strides: readonly number[],
  declared?: OutputLayout,
): ResolvedLayout {
  const found = detectLayout(outputs, inputWidth, inputHeight, strides);
  if (found && (!declared || declared === found.layout)) return found;
  // YOLOv5 and YOLOX share [1, N, 5+nc]; a declared layout settles it when the grid count is unusual.
  if (
    found &&
    declared &&
    (declared === "yolov5" || declared === "yolox") &&
    (found.layout === "yolov5" || found.layout === "yolox")
  ) {
    return { layout: declared, numClasses: found.numClasses };
  }
  const expected = declared ? `declared layout "${declared}"` : "any known layout";
  throw new UnknownLayoutError(
    `model outputs ${shapes(outputs)} do not fit ${expected} for input ${inputWidth}x${inputHeight}. ` +
      `Known layouts: ultralytics [1, 4+nc, N]; yolov5 [1, N, 5+nc]; end2end [1, K, 6]; ` +
      `yolox [1, N, 5+nc] with N = grid cells over strides ${strides.join("/")}; ` +
      `picodet 4 score tensors [1, N, nc] + 4 box tensors [1, N, 4*(reg_max+1)]. (${OUTPUT_LAYOUTS.join(", ")})`,
  );
}

function detectLayout(
  outputs: readonly OutputTensor[],
  inputWidth: number,
  inputHeight: number,
  strides: readonly number[],
): ResolvedLayout | undefined {
  if (outputs.length === 1) {
    const d = outputs[0]!.dims;
    if (d.length !== 3 || d[0] !== 1) return undefined;
    const a = d[1]!;
    const b = d[2]!;
    if (b === 6 && a <= 1000) return { layout: "end2end", numClasses: 0 };
    if (a >= 5 && a < b) return { layout: "ultralytics", numClasses: a - 4 };
    if (b >= 6 && a > b) {
      const yoloxStrides = strides.length > 0 ? strides : [8, 16, 32];
      if (a === gridCells(inputWidth, inputHeight, yoloxStrides, Math.floor))
        return { layout: "yolox", numClasses: b - 5 };
      return { layout: "yolov5", numClasses: b - 5 };
    }
    return undefined;
  }
  const picodet = splitPicodet(outputs);
  if (picodet) return { layout: "picodet", numClasses: picodet.numClasses };
  return undefined;
}

interface PicodetLevel {
  readonly scores: OutputTensor;
  readonly boxes: OutputTensor;
  readonly cells: number;
}

function splitPicodet(
  outputs: readonly OutputTensor[],
): { levels: PicodetLevel[]; numClasses: number; bins: number } | undefined {
  if (outputs.length < 2 || outputs.length % 2 !== 0) return undefined;
  if (!outputs.every((o) => o.dims.length === 3 && o.dims[0] === 1)) return undefined;
  const byLastDim = new Map<number, OutputTensor[]>();
  for (const o of outputs) {
    const k = o.dims[2]!;
    byLastDim.set(k, [...(byLastDim.get(k) ?? []), o]);
  }
  if (byLastDim.size !== 2) return undefined;
  const [[dimA, a], [dimB, b]] = [...byLastDim.entries()] as [
    [number, OutputTensor[]],
    [number, OutputTensor[]],
  ];
  if (a.length !== b.length) return undefined;
  // The box tensors hold 4 distributions of reg_max+1 bins (8 for PicoDet); class scores are the rest.
  const isBox = (dim: number) => dim % 4 === 0 && dim / 4 >= 2 && dim / 4 <= 17;
  let scoreList: OutputTensor[];
  let boxList: OutputTensor[];
  let boxDim: number;
  if (isBox(dimA) && !isBox(dimB)) [boxList, scoreList, boxDim] = [a, b, dimA];
  else if (isBox(dimB) && !isBox(dimA)) [boxList, scoreList, boxDim] = [b, a, dimB];
  else if (isBox(dimA) && isBox(dimB)) {
    // Both plausible: the smaller last dim is the distribution.
    [boxList, scoreList, boxDim] = dimA < dimB ? [a, b, dimA] : [b, a, dimB];
  } else return undefined;
  const levels: PicodetLevel[] = [];
  for (const s of scoreList) {
    const box = boxList.find((o) => o.dims[1] === s.dims[1]);
    if (!box) return undefined;
    levels.push({ scores: s, boxes: box, cells: s.dims[1]! });
  }
  levels.sort((x, y) => y.cells - x.cells);
  return { levels, numClasses: scoreList[0]!.dims[2]!, bins: boxDim / 4 };
}

/** Ultralytics v8/v11: [1, 4+nc, N], rows cx, cy, w, h then class scores (sigmoided), no objectness. */
export function decodeUltralytics(t: OutputTensor, p: DecodeParams, out: Candidates): void {
  const rows = t.dims[1]!;
  const n = t.dims[2]!;
  const nc = rows - 4;
  const d = t.data;
  const allowed = p.allowed;
  // The tensor is class-major and large (2.8 MB at 640): reading all of it is memory-bound. Scan only
  // the kept classes' rows, then confirm on the few anchors above the threshold that no other class
  // scores higher, which gives exactly the result of an arg-max over all classes.
  const { bestScore, bestClass } = out.bestScratch(n);
  bestScore.fill(p.confThreshold, 0, n);
  bestClass.fill(-1, 0, n);
  for (let c = 0; c < nc; c++) {
    if (!allowed[c]) continue;
    const row = (4 + c) * n;
    for (let i = 0; i < n; i++) {
      const s = d[row + i]!;
      if (s > bestScore[i]! || (s === bestScore[i]! && bestClass[i]! < 0)) {
        bestScore[i] = s;
        bestClass[i] = c;
      }
    }
  }
  for (let i = 0; i < n; i++) {
    const bestC = bestClass[i]!;
    if (bestC < 0) continue;
    const best = bestScore[i]!;
    let beaten = false;
    for (let c = 0, o = 4 * n + i; c < nc; c++, o += n) {
      if (!allowed[c] && (d[o]! > best || (d[o]! === best && c < bestC))) {
        beaten = true;
        break;
      }
    }
    if (beaten) continue;
    const cx = d[i]!;
    const cy = d[n + i]!;
    const hw = d[2 * n + i]! / 2;
    const hh = d[3 * n + i]! / 2;
    out.push(cx - hw, cy - hh, cx + hw, cy + hh, best, bestC);
  }
}

/** YOLOv5: [1, N, 5+nc], columns cx, cy, w, h, objectness, class scores; score = obj * cls. */
export function decodeYolov5(t: OutputTensor, p: DecodeParams, out: Candidates): void {
  const n = t.dims[1]!;
  const cols = t.dims[2]!;
  const d = t.data;
  const conf = p.confThreshold;
  for (let i = 0, r = 0; i < n; i++, r += cols) {
    const obj = d[r + 4]!;
    if (obj < conf) continue;
    let best = 0;
    let bestC = -1;
    for (let c = 0; c < cols - 5; c++) {
      const s = d[r + 5 + c]!;
      if (s > best) {
        best = s;
        bestC = c;
      }
    }
    const score = obj * best;
    if (score < conf || bestC < 0 || !p.allowed[bestC]) continue;
    const hw = d[r + 2]! / 2;
    const hh = d[r + 3]! / 2;
    out.push(d[r]! - hw, d[r + 1]! - hh, d[r]! + hw, d[r + 1]! + hh, score, bestC);
  }
}

/** End-to-end exports (YOLOv10, YOLO26): [1, K, 6] rows x1, y1, x2, y2, score, class; already NMS-free. */
export function decodeEnd2End(t: OutputTensor, p: DecodeParams, out: Candidates): void {
  const k = t.dims[1]!;
  const d = t.data;
  for (let i = 0, r = 0; i < k; i++, r += 6) {
    const score = d[r + 4]!;
    const cls = Math.round(d[r + 5]!);
    if (score < p.confThreshold || !p.allowed[cls]) continue;
    out.push(d[r]!, d[r + 1]!, d[r + 2]!, d[r + 3]!, score, cls);
  }
}

/** YOLOX raw head: [1, N, 5+nc] over the grid cells of each stride; box = (t + grid) * s, exp(t) * s. */
export function decodeYolox(t: OutputTensor, p: DecodeParams, out: Candidates): void {
  const cols = t.dims[2]!;
  const nc = cols - 5;
  const d = t.data;
  const conf = p.confThreshold;
  let r = 0;
  for (const s of p.strides) {
    const gw = Math.floor(p.inputWidth / s);
    const gh = Math.floor(p.inputHeight / s);
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++, r += cols) {
        const obj = d[r + 4]!;
        if (obj < conf) continue;
        let best = 0;
        let bestC = -1;
        for (let c = 0; c < nc; c++) {
          const v = d[r + 5 + c]!;
          if (v > best) {
            best = v;
            bestC = c;
          }
        }
        const score = obj * best;
        if (score < conf || bestC < 0 || !p.allowed[bestC]) continue;
        const cx = (d[r]! + gx) * s;
        const cy = (d[r + 1]! + gy) * s;
        const hw = (Math.exp(d[r + 2]!) * s) / 2;
        const hh = (Math.exp(d[r + 3]!) * s) / 2;
        out.push(cx - hw, cy - hh, cx + hw, cy + hh, score, bestC);
      }
    }
  }
}

/** Expectation of a softmax over `bins` values starting at `o`. */
function distributionMean(d: Float32Array, o: number, bins: number): number {
  let max = d[o]!;
  for (let k = 1; k < bins; k++) if (d[o + k]! > max) max = d[o + k]!;
  let sum = 0;
  let weighted = 0;
  for (let k = 0; k < bins; k++) {
    const e = Math.exp(d[o + k]! - max);
    sum += e;
    weighted += e * k;
  }
  return weighted / sum;
}

/** PicoDet: per stride, sigmoided class scores [1, N, nc] and side distributions [1, N, 4*bins]. */
export function decodePicodet(outputs: readonly OutputTensor[], p: DecodeParams, out: Candidates): void {
  const split = splitPicodet(outputs);
  if (!split) throw new UnknownLayoutError(`outputs ${shapes(outputs)} are not PicoDet score + box tensors`);
  const { levels, numClasses: nc, bins } = split;
  const conf = p.confThreshold;
  for (const level of levels) {
    const s = strideFor(level.cells, p);
    const gw = Math.ceil(p.inputWidth / s);
    const sd = level.scores.data;
    const bd = level.boxes.data;
    for (let i = 0; i < level.cells; i++) {
      let best = 0;
      let bestC = -1;
      for (let c = 0, o = i * nc; c < nc; c++, o++) {
        if (sd[o]! > best) {
          best = sd[o]!;
          bestC = c;
        }
      }
      if (best < conf || bestC < 0 || !p.allowed[bestC]) continue;
      const cx = ((i % gw) + 0.5) * s;
      const cy = (Math.floor(i / gw) + 0.5) * s;
      const o = i * 4 * bins;
      const left = distributionMean(bd, o, bins) * s;
      const top = distributionMean(bd, o + bins, bins) * s;
      const right = distributionMean(bd, o + 2 * bins, bins) * s;
      const bottom = distributionMean(bd, o + 3 * bins, bins) * s;
      out.push(cx - left, cy - top, cx + right, cy + bottom, best, bestC);
    }
  }
}

function strideFor(cells: number, p: DecodeParams): number {
  const candidates = p.strides.length > 0 ? p.strides : [8, 16, 32, 64];
  for (const s of candidates) {
    if (Math.ceil(p.inputWidth / s) * Math.ceil(p.inputHeight / s) === cells) return s;
  }
  throw new UnknownLayoutError(
    `PicoDet level with ${cells} cells matches none of strides ${candidates.join("/")} for input ${p.inputWidth}x${p.inputHeight}`,
  );
}

export function decodeOutputs(
  layout: OutputLayout,
  outputs: readonly OutputTensor[],
  p: DecodeParams,
  out: Candidates,
): void {
  out.reset();
  switch (layout) {
    case "ultralytics":
      decodeUltralytics(outputs[0]!, p, out);
      return;
    case "yolov5":
      decodeYolov5(outputs[0]!, p, out);
      return;
    case "end2end":
      decodeEnd2End(outputs[0]!, p, out);
      return;
    case "yolox":
      decodeYolox(outputs[0]!, p, out);
      return;
    case "picodet":
      decodePicodet(outputs, p, out);
      return;
  }
}
