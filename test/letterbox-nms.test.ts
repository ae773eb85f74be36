import { describe, expect, it } from "vitest";
import { Candidates } from "../edge/detect/candidates.ts";
import { COCO80_LABELS } from "../edge/detect/coco-labels.ts";
import { computeGeometry, toInputX, toInputY, toSourceX, toSourceY } from "../edge/detect/letterbox.ts";
import { nonMaxSuppression } from "../edge/detect/nms.ts";
import { nmsGroupsFor } from "../edge/detect/output-decoder.ts";

describe("letterbox geometry", () => {
  it.each([
    [1920, 1080, 640, 640, "center", { resizedWidth: 640, resizedHeight: 360, padLeft: 0, padTop: 140 }],
    [1080, 1920, 640, 640, "center", { resizedWidth: 360, resizedHeight: 640, padLeft: 140, padTop: 0 }],
    [1280, 720, 416, 416, "top-left", { resizedWidth: 416, resizedHeight: 234, padLeft: 0, padTop: 0 }],
    [768, 576, 320, 320, "center", { resizedWidth: 320, resizedHeight: 240, padLeft: 0, padTop: 40 }],
  ] as const)("%ix%i into %ix%i (%s)", (w, h, iw, ih, place, expected) => {
    expect(computeGeometry(w, h, iw, ih, "letterbox", place)).toMatchObject(expected);
  });

  it("maps boxes back to the source within 1 px (round trip)", () => {
    for (const [w, h, size, place] of [
      [1920, 1080, 640, "center"],
      [1330, 1330, 320, "center"],
      [1281, 719, 416, "top-left"],
      [777, 555, 416, "center"],
    ] as const) {
      const g = computeGeometry(w, h, size, size, "letterbox", place);
      for (const [x, y] of [
        [0, 0],
        [w / 3, h / 2],
        [w - 1, h - 1],
        [w, h],
      ]) {
        expect(Math.abs(toSourceX(g, toInputX(g, x!)) - x!)).toBeLessThan(1);
        expect(Math.abs(toSourceY(g, toInputY(g, y!)) - y!)).toBeLessThan(1);
      }
    }
  });

  it("stretch maps each axis by its own scale", () => {
    const g = computeGeometry(1000, 500, 416, 416, "stretch", "center");
    expect(toSourceX(g, 208)).toBeCloseTo(500);
    expect(toSourceY(g, 208)).toBeCloseTo(250);
  });

  it("clamps mapped points into the image", () => {
    const g = computeGeometry(1920, 1080, 640, 640, "letterbox", "center");
    expect(toSourceY(g, 10)).toBe(0);
    expect(toSourceY(g, 630)).toBe(1080);
  });
});

describe("class-aware NMS", () => {
  function run(
    boxes: [number, number, number, number, number, number][],
    iou = 0.5,
    max = 100,
    groups?: Int32Array,
  ) {
    const c = new Candidates(2);
    for (const b of boxes) c.push(...b);
    const scratch = { order: new Uint32Array(16), suppressed: new Uint8Array(16), keep: new Uint32Array(16) };
    const kept = nonMaxSuppression(c, iou, max, scratch, groups);
    return Array.from(scratch.keep.subarray(0, kept));
  }

  // COCO ids: 0 person, 1 bicycle, 2 car, 3 motorcycle, 5 bus, 7 truck
  const groups = nmsGroupsFor(COCO80_LABELS);

  it("one van, one box: a car box and a truck box on one vehicle suppress each other", () => {
    const van: [number, number, number, number, number, number][] = [
      [0, 0, 100, 60, 0.55, 2],
      [2, 0, 100, 62, 0.48, 7],
    ];
    expect(run(van, 0.5, 100, groups)).toEqual([0]);
    expect(run(van)).toEqual([0, 1]); // per class, both would stay: two tracks, two counts
  });

  it("family groups keep a cyclist's person and bicycle apart", () => {
    const rider: [number, number, number, number, number, number][] = [
      [0, 0, 10, 20, 0.9, 0],
      [0, 5, 10, 20, 0.8, 1],
      [0, 5, 10, 20, 0.4, 3],
    ];
    // the bicycle and the motorcycle box are one two-wheeler; the person stays
    expect(run(rider, 0.5, 100, groups)).toEqual([0, 1]);
  });

  it("keeps the best of overlapping same-class boxes, best first", () => {
    expect(
      run([
        [0, 0, 10, 10, 0.5, 0],
        [1, 1, 11, 11, 0.9, 0],
        [50, 50, 60, 60, 0.3, 0],
      ]),
    ).toEqual([1, 2]);
  });

  it("does not suppress across classes (a cyclist's person and bicycle overlap)", () => {
    expect(
      run([
        [0, 0, 10, 10, 0.9, 0],
        [0, 0, 10, 10, 0.8, 1],
      ]),
    ).toEqual([0, 1]);
  });

  it("keeps boxes whose IoU is at or below the threshold", () => {
    // IoU of [0,0,10,10] and [5,0,15,10] = 50/150 = 0.333
    expect(
      run(
        [
          [0, 0, 10, 10, 0.9, 0],
          [5, 0, 15, 10, 0.8, 0],
        ],
        0.4,
      ),
    ).toEqual([0, 1]);
    expect(
      run(
        [
          [0, 0, 10, 10, 0.9, 0],
          [5, 0, 15, 10, 0.8, 0],
        ],
        0.3,
      ),
    ).toEqual([0]);
  });

  it("stops at the maximum number of detections", () => {
    expect(
      run(
        [
          [0, 0, 1, 1, 0.9, 0],
          [5, 5, 6, 6, 0.8, 0],
          [9, 9, 10, 10, 0.7, 0],
        ],
        0.5,
        2,
      ),
    ).toEqual([0, 1]);
  });
});
