import { describe, expect, it } from "vitest";
import { Candidates } from "../edge/detect/candidates.ts";
import {
  type DecodeParams,
  decodeOutputs,
  type OutputTensor,
  resolveLayout,
  UnknownLayoutError,
} from "../edge/detect/decode.ts";

const NC = 3;
const params = (over: Partial<DecodeParams> = {}): DecodeParams => ({
  inputWidth: 64,
  inputHeight: 64,
  strides: [8, 16, 32],
  confThreshold: 0.25,
  allowed: Uint8Array.of(1, 1, 0),
  ...over,
});

function tensor(name: string, dims: number[], fill: (data: Float32Array) => void): OutputTensor {
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  fill(data);
  return { name, dims, data };
}

function decoded(layout: Parameters<typeof decodeOutputs>[0], outputs: OutputTensor[], p = params()) {
  const c = new Candidates(4);
  decodeOutputs(layout, outputs, p, c);
  return Array.from({ length: c.count }, (_, i) => ({
    box: [c.x1[i], c.y1[i], c.x2[i], c.y2[i]].map((v) => Math.round(v! * 100) / 100),
    score: Math.round(c.score[i]! * 1000) / 1000,
    classId: c.classId[i],
  }));
}

describe("output decoders on hand-built tensors", () => {
  it("ultralytics [1, 4+nc, N]: cx,cy,w,h rows then class rows; best class; threshold; class filter", () => {
    const n = 5;
    const t = tensor("output0", [1, 4 + NC, n], (d) => {
      const set = (row: number, i: number, v: number) => {
        d[row * n + i] = v;
      };
      // anchor 1: class 1 at 0.9, box centred (20, 30) size 10x20
      for (const [row, v] of [
        [0, 20],
        [1, 30],
        [2, 10],
        [3, 20],
        [5, 0.9],
        [4, 0.2],
      ] as const)
        set(row, 1, v);
      // anchor 3: class 2 (not allowed) at 0.95
      for (const [row, v] of [
        [0, 40],
        [1, 40],
        [2, 8],
        [3, 8],
        [6, 0.95],
      ] as const)
        set(row, 3, v);
      // anchor 4: class 0 below threshold
      set(4, 4, 0.2);
    });
    expect(decoded("ultralytics", [t])).toEqual([{ box: [15, 20, 25, 40], score: 0.9, classId: 1 }]);
  });

  it("yolov5 [1, N, 5+nc]: score = objectness x class", () => {
    const t = tensor("output", [1, 3, 5 + NC], (d) => {
      d.set([10, 10, 4, 6, 0.8, 0.1, 0.5, 0], 0); // 0.4 class 1
      d.set([30, 30, 4, 4, 0.2, 0.9, 0, 0], 8); // obj below threshold
      d.set([50, 50, 2, 2, 0.9, 0.2, 0.1, 0], 16); // 0.18 below threshold
    });
    expect(decoded("yolov5", [t])).toEqual([{ box: [8, 7, 12, 13], score: 0.4, classId: 1 }]);
  });

  it("end2end [1, K, 6]: corner boxes, score, class", () => {
    const t = tensor("output0", [1, 3, 6], (d) => {
      d.set([1, 2, 3, 4, 0.7, 0], 0);
      d.set([5, 6, 7, 8, 0.1, 1], 6);
      d.set([9, 9, 12, 12, 0.9, 2], 12);
    });
    expect(decoded("end2end", [t])).toEqual([{ box: [1, 2, 3, 4], score: 0.7, classId: 0 }]);
  });

  it("yolox raw head: grid offsets and log sizes per stride", () => {
    // 64x64 input: 8x8 cells at stride 8, 4x4 at 16, 2x2 at 32 = 84 rows.
    const cols = 5 + NC;
    const t = tensor("output", [1, 84, cols], (d) => {
      // stride 16, cell (gx=2, gy=1): row 64 + 1*4 + 2 = 70
      d.set([0.5, 0.25, Math.log(2), Math.log(1), 0.9, 0, 1, 0], 70 * cols);
    });
    // cx = (0.5 + 2) * 16 = 40, cy = (0.25 + 1) * 16 = 20, w = 32, h = 16
    expect(decoded("yolox", [t])).toEqual([{ box: [24, 12, 56, 28], score: 0.9, classId: 1 }]);
  });

  it("picodet: sigmoid scores per stride and softmax side distributions", () => {
    // 64x64 input, strides 8/16/32/64 -> 64, 16, 4, 1 cells; 8 bins per side.
    const bins = 8;
    const levels = [64, 16, 4, 1];
    const scores = levels.map((n, k) => tensor(`scale_${k}`, [1, n, NC], () => {}));
    const boxes = levels.map((n, k) => tensor(`scale_${k + 4}`, [1, n, 4 * bins], () => {}));
    // stride 16, cell 5 = (x=1, y=1): centre (24, 24); one-hot distributions: left 1, top 2, right 3, bottom 0 bins.
    scores[1]!.data[5 * NC + 0] = 0.8;
    const b = boxes[1]!.data;
    for (const [side, bin] of [
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 0],
    ] as const)
      b[5 * 4 * bins + side * bins + bin] = 50;
    const out = decoded("picodet", [...scores, ...boxes], params({ strides: [8, 16, 32, 64] }));
    expect(out).toEqual([{ box: [8, -8, 72, 24], score: 0.8, classId: 0 }]);
  });
});

describe("layout resolution", () => {
  const one = (dims: number[]) => [tensor("out", dims, () => {})];
  it.each([
    [[1, 84, 2100], 320, "ultralytics", 80],
    [[1, 300, 6], 640, "end2end", 0],
    [[1, 3549, 85], 416, "yolox", 80],
    [[1, 10647, 85], 416, "yolov5", 80],
  ] as const)("%j at %i -> %s", (dims, size, layout, nc) => {
    expect(resolveLayout(one([...dims]), size, size, [8, 16, 32])).toEqual({ layout, numClasses: nc });
  });

  it("recognises PicoDet's eight outputs", () => {
    const outs = [2704, 676, 169, 49].flatMap((n, k) => [
      tensor(`s${k}`, [1, n, 80], () => {}),
      tensor(`b${k}`, [1, n, 32], () => {}),
    ]);
    expect(resolveLayout(outs, 416, 416, [8, 16, 32, 64])).toEqual({ layout: "picodet", numClasses: 80 });
  });

  it("names the shapes it found and the layouts it knows when nothing fits", () => {
    expect(() => resolveLayout([tensor("weird", [1, 2, 3, 4], () => {})], 320, 320, [8, 16, 32])).toThrow(
      UnknownLayoutError,
    );
    expect(() => resolveLayout([tensor("weird", [1, 2, 3, 4], () => {})], 320, 320, [8, 16, 32])).toThrow(
      /weird \[1, 2, 3, 4\].*ultralytics \[1, 4\+nc, N\].*yolov5.*end2end.*yolox.*picodet/,
    );
  });

  it("rejects a declared layout that the outputs contradict", () => {
    expect(() => resolveLayout(one([1, 84, 2100]), 320, 320, [8, 16, 32], "end2end")).toThrow(
      /declared layout "end2end"/,
    );
  });
});
