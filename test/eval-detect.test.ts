import { describe, expect, it } from "vitest";
import { evaluateDetectDataset } from "../edge/cli/eval-detect-command.ts";
import { evaluateDetections, type LabelledBox, meanAp, type ScoredBox } from "../edge/eval/detection-ap.ts";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath } from "./helpers/assets.ts";

const box = (x1: number, y1: number, x2: number, y2: number) => ({ x1, y1, x2, y2 });
const gt = (imageId: string, b: ReturnType<typeof box>, crowd = false): LabelledBox => ({
  imageId,
  classId: 0,
  box: b,
  crowd,
});
const det = (imageId: string, score: number, b: ReturnType<typeof box>): ScoredBox => ({
  imageId,
  classId: 0,
  score,
  box: b,
});

describe("COCO-style AP", () => {
  it("perfect detections score 1", () => {
    const truths = [gt("a", box(0, 0, 10, 10)), gt("b", box(5, 5, 50, 50))];
    const [r] = evaluateDetections(
      truths,
      truths.map((t) => det(t.imageId, 0.9, t.box)),
      [0],
    );
    expect(r!.ap50).toBeCloseTo(1);
    expect(r!.ap5095).toBeCloseTo(1);
  });

  it("finding one of two objects with nothing wrong gives AP 0.5 (101-point)", () => {
    const [r] = evaluateDetections(
      [gt("a", box(0, 0, 10, 10)), gt("a", box(20, 20, 30, 30))],
      [det("a", 0.9, box(0, 0, 10, 10))],
      [0],
    );
    // recall points 0..0.5 have precision 1: 51 of 101
    expect(r!.ap50).toBeCloseTo(51 / 101);
  });

  it("a false positive ranked above the true one halves precision at every recall", () => {
    const [r] = evaluateDetections(
      [gt("a", box(0, 0, 10, 10))],
      [det("a", 0.9, box(50, 50, 60, 60)), det("a", 0.8, box(0, 0, 10, 10))],
      [0],
    );
    expect(r!.ap50).toBeCloseTo(0.5);
  });

  it("a duplicate of a matched object is a false positive", () => {
    const [r] = evaluateDetections(
      [gt("a", box(0, 0, 10, 10))],
      [det("a", 0.9, box(0, 0, 10, 10)), det("a", 0.8, box(0, 0, 10, 10))],
      [0],
    );
    expect(r!.ap50).toBeCloseTo(1); // the duplicate ranks below full recall
    const [r2] = evaluateDetections(
      [gt("a", box(0, 0, 10, 10)), gt("b", box(0, 0, 10, 10))],
      [det("a", 0.9, box(0, 0, 10, 10)), det("a", 0.8, box(0, 0, 10, 10)), det("b", 0.7, box(0, 0, 10, 10))],
      [0],
    );
    expect(r2!.ap50).toBeLessThan(1);
  });

  it("a detection on a crowd region is ignored, not a false positive", () => {
    const truths = [gt("a", box(0, 0, 10, 10)), gt("a", box(100, 100, 200, 200), true)];
    const dets = [det("a", 0.95, box(120, 120, 140, 140)), det("a", 0.9, box(0, 0, 10, 10))];
    expect(evaluateDetections(truths, dets, [0])[0]!.ap50).toBeCloseTo(1);
    expect(evaluateDetections(truths.slice(0, 1), dets, [0])[0]!.ap50).toBeCloseTo(0.5);
  });

  it("a loose box counts at IoU 0.5 but not at 0.95", () => {
    const [r] = evaluateDetections([gt("a", box(0, 0, 10, 10))], [det("a", 0.9, box(0, 0, 10, 14))], [0]);
    expect(r!.ap50).toBeCloseTo(1);
    // IoU 100/140 = 0.71 passes the thresholds 0.50..0.70: 5 of 10
    expect(r!.ap5095).toBeCloseTo(0.5);
  });

  it("classes without ground truth are left out of the mean", () => {
    const results = evaluateDetections(
      [gt("a", box(0, 0, 10, 10))],
      [det("a", 0.9, box(0, 0, 10, 10))],
      [0, 1],
    );
    expect(Number.isNaN(results[1]!.ap50)).toBe(true);
    expect(meanAp(results, "ap50")).toBeCloseTo(1);
  });
});

describeWithAssets(
  "eval detect on coco-val64 (real model, real labels)",
  [modelPath("yolox_nano.onnx"), dataPath("coco-val64/images")],
  () => {
    it("yolox-nano reaches the AP a working pipeline gets (a letterbox/normalisation/decode bug collapses it)", async () => {
      const report = await evaluateDetectDataset(
        {
          images: dataPath("coco-val64/images"),
          labels: dataPath("coco-val64/labels"),
          model: "yolox-nano",
          modelDir: MODEL_DIR,
          conf: "0.001",
          iou: "0.45",
          threads: "2",
        },
        false,
      );
      expect(report.images).toBe(64);
      const person = report.classes.find((c) => c.label === "person")!;
      expect(person.groundTruths).toBe(187);
      expect(person.ap50).toBeGreaterThan(0.5);
      expect(person.ap5095).toBeGreaterThan(0.25);
      expect(report.classes.find((c) => c.label === "car")!.ap50).toBeGreaterThan(0.6);
      expect(report.crowdRegions).toBe(2);
    });
  },
);
