import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadManifest } from "../edge/detect/model-descriptor.ts";
import { ModelLoadError } from "../edge/detect/model-file.ts";
import { type DetectorOptions, OnnxDetector } from "../edge/detect/onnx-detector.ts";
import { parseImgsz, parseUltralyticsNames, readOnnxMetadata } from "../edge/detect/onnx-metadata.ts";
import { ImageDecodeError } from "../edge/detect/preprocess.ts";
import { DEFAULT_COUNTED_CLASSES } from "../edge/domain/classes.ts";
import type { Detection } from "../edge/domain/types.ts";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath } from "./helpers/assets.ts";

const options = (model: string, over: Partial<DetectorOptions> = {}): DetectorOptions => ({
  model,
  modelDir: MODEL_DIR,
  threads: 2,
  graphOptimization: "all",
  executionProviders: ["cpu"],
  confidence: 0.25,
  iou: 0.45,
  classes: DEFAULT_COUNTED_CLASSES,
  maxDetections: 300,
  ...over,
});

const image = (name: string) => ({
  kind: "encoded" as const,
  data: readFileSync(dataPath(`images/${name}`)),
});
const of = (dets: Detection[], ...labels: string[]) => dets.filter((d) => labels.includes(d.label));
const centre = (d: Detection) => ({ x: (d.box.x1 + d.box.x2) / 2, y: (d.box.y1 + d.box.y2) / 2 });

const models = loadManifest().models;
const assets = [
  ...models.map((m) => modelPath(m.file)),
  ...["street.jpg", "dog.jpg", "horses.jpg", "person.jpg"].map((f) => dataPath(`images/${f}`)),
];

describeWithAssets("detector on real photos, every manifest model", assets, () => {
  describe.each(models.map((m) => [m.id]))("%s", (id) => {
    let detector: OnnxDetector;
    beforeAll(async () => {
      detector = await OnnxDetector.load(options(id));
    });
    afterAll(async () => detector?.release());

    it("is configured from the manifest and decodes its layout", () => {
      const m = models.find((x) => x.id === id)!;
      expect(detector.info.layout).toBe(m.layout);
      expect([detector.info.inputWidth, detector.info.inputHeight]).toEqual([m.input.width, m.input.height]);
      expect(detector.info.configuredFrom).toBe("manifest");
    });

    it("street.jpg: the cyclist's bicycle on the right, at least 5 persons, at least 2 cars", async () => {
      const dets = await detector.detect(image("street.jpg"));
      // street.jpg is 1330x1330; the ridden bicycle sits in the lower right quarter.
      const bikes = of(dets, "bicycle").filter((d) => centre(d).x > 800 && centre(d).y > 700);
      expect(bikes.length).toBeGreaterThanOrEqual(1);
      const bike = bikes[0]!;
      // the cyclist: a person box overlapping the bicycle and reaching above it
      expect(
        of(dets, "person").some(
          (p) => p.box.x2 > bike.box.x1 && p.box.x1 < bike.box.x2 && p.box.y1 < bike.box.y1,
        ),
      ).toBe(true);
      expect(of(dets, "person").length).toBeGreaterThanOrEqual(5);
      const cars = of(dets, "car");
      expect(cars.length).toBeGreaterThanOrEqual(2);
      // pedestrians stand on the pavement in the lower half; cars are in the road band
      for (const d of [...of(dets, "person"), ...cars]) expect(centre(d).y).toBeGreaterThan(450);
      for (const d of dets) {
        expect(d.box.x1).toBeGreaterThanOrEqual(0);
        expect(d.box.x2).toBeLessThanOrEqual(1330);
        expect(d.box.x2).toBeGreaterThan(d.box.x1);
      }
    });

    it("horses.jpg: no person or vehicle", async () => {
      expect(await detector.detect(image("horses.jpg"))).toEqual([]);
    });

    it("dog.jpg: the bicycle and the pickup at the top right as car or truck", async () => {
      const dets = await detector.detect(image("dog.jpg"));
      expect(of(dets, "bicycle").length).toBeGreaterThanOrEqual(1);
      // dog.jpg is 768x576; the pickup is parked at the top right
      const pickup = of(dets, "car", "truck").filter((d) => centre(d).x > 450 && centre(d).y < 250);
      expect(pickup.length).toBeGreaterThanOrEqual(1);
    });

    it("person.jpg: the person", async () => {
      const dets = await detector.detect(image("person.jpg"));
      const persons = of(dets, "person");
      expect(persons.length).toBeGreaterThanOrEqual(1);
      // the standing person is left of centre, tall and narrow
      const p = persons[0]!;
      expect(p.box.y2 - p.box.y1).toBeGreaterThan(1.5 * (p.box.x2 - p.box.x1));
    });

    it("gives the same boxes for a raw RGB frame as for its JPEG", async () => {
      const sharp = (await import("sharp")).default;
      const { data, info } = await sharp(readFileSync(dataPath("images/dog.jpg")))
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      const fromRaw = await detector.detect({ kind: "rgb", data, width: info.width, height: info.height });
      const fromJpeg = await detector.detect(image("dog.jpg"));
      expect(fromRaw.map((d) => d.label)).toEqual(fromJpeg.map((d) => d.label));
      for (const [i, d] of fromRaw.entries())
        expect(Math.abs(d.box.x1 - fromJpeg[i]!.box.x1)).toBeLessThan(3);
    });
  });

  describe("bad input", () => {
    let detector: OnnxDetector;
    beforeAll(async () => {
      detector = await OnnxDetector.load(options("yolox-nano"));
    });
    afterAll(async () => detector?.release());

    it("an empty image is a clear per-image error, and the detector keeps working", async () => {
      await expect(detector.detect({ kind: "encoded", data: Buffer.alloc(0) })).rejects.toThrow(
        ImageDecodeError,
      );
      await expect(
        detector.detect({ kind: "encoded", data: Buffer.from("not an image at all") }),
      ).rejects.toThrow(/not a decodable image/);
      const street = readFileSync(dataPath("images/street.jpg"));
      await expect(detector.detect({ kind: "encoded", data: street.subarray(0, 2000) })).rejects.toThrow(
        ImageDecodeError,
      );
      expect((await detector.detect(image("person.jpg"))).length).toBeGreaterThan(0);
    });

    it("a raw frame shorter than its size says so", async () => {
      await expect(
        detector.detect({ kind: "rgb", data: Buffer.alloc(10), width: 4, height: 4 }),
      ).rejects.toThrow(/expected 48/);
    });
  });
});

describeWithAssets(
  "model loading errors",
  [modelPath("yolox_nano.onnx"), modelPath("yolo11n-int8-320.onnx")],
  () => {
    const dir = mkdtempSync(join(tmpdir(), "models-"));

    it("a missing model names the path, what was expected and how to get it", async () => {
      await expect(OnnxDetector.load(options("yolox-nano", { modelDir: dir }))).rejects.toThrow(
        new RegExp(
          `model file not found: ${dir}/yolox_nano.onnx.*sha256 695e750a.*counter model fetch yolox-nano`,
        ),
      );
    });

    it("a truncated manifest model names the size and sha256 found and expected", async () => {
      writeFileSync(
        join(dir, "yolox_nano.onnx"),
        readFileSync(modelPath("yolox_nano.onnx")).subarray(0, 100_000),
      );
      const err = await OnnxDetector.load(options("yolox-nano", { modelDir: dir })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModelLoadError);
      expect((err as Error).message).toMatch(/has 100000 bytes.*expected 3660092 bytes/);
    });

    it("a truncated file given by path fails with the path and what was expected", async () => {
      const path = join(dir, "custom.onnx");
      writeFileSync(path, readFileSync(modelPath("yolo11n-int8-320.onnx")).subarray(0, 50_000));
      await expect(OnnxDetector.load(options(path))).rejects.toThrow(
        new RegExp(`${path}.*Expected a complete ONNX model`),
      );
    });

    it("an unknown id that is not a file lists the known ids", async () => {
      await expect(OnnxDetector.load(options("yolo-nonexistent"))).rejects.toThrow(
        /neither a known model id \(yolox-nano, picodet-s-416/,
      );
    });

    it("an Ultralytics export outside the manifest configures itself from its metadata", async () => {
      // Same weights with one metadata byte changed: unknown to the manifest, still a valid model.
      const bytes = Buffer.from(readFileSync(modelPath("yolo11n-int8-320.onnx")));
      const at = bytes.indexOf("Ultralytics YOLO");
      expect(at).toBeGreaterThan(0);
      bytes.write("u", at);
      const path = join(dir, "custom-yolo11n.onnx");
      writeFileSync(path, bytes);
      const meta = readOnnxMetadata(bytes);
      expect(parseUltralyticsNames(meta.get("names")!)?.length).toBe(80);
      expect(parseImgsz(meta.get("imgsz")!)).toEqual({ width: 320, height: 320 });
      const d = await OnnxDetector.load(options(path));
      expect(d.info.configuredFrom).toBe("ultralytics-metadata");
      expect(d.info.layout).toBe("ultralytics");
      expect(d.info.license).toBe("AGPL-3.0");
      expect(d.info.labels.slice(0, 3)).toEqual(["person", "bicycle", "car"]);
      const dets = await d.detect(image("person.jpg"));
      await d.release();
      expect(of(dets, "person").length).toBeGreaterThanOrEqual(1);
    });

    it("reports an AGPL licence when the model is chosen", async () => {
      const warnings: string[] = [];
      const d = await OnnxDetector.load(options("yolo11n-int8-320", { warn: (m) => warnings.push(m) }));
      await d.release();
      expect(warnings.join("\n")).toMatch(/AGPL-3\.0/);
    });

    it("a class the model does not know is a load error", async () => {
      await expect(OnnxDetector.load(options("yolox-nano", { classes: ["unicorn"] }))).rejects.toThrow(
        /class "unicorn"/,
      );
    });

    it("falls back to CPU with a warning when a GPU provider is unavailable", async () => {
      const warnings: string[] = [];
      const d = await OnnxDetector.load(
        options("yolox-nano", { executionProviders: ["cuda", "cpu"], warn: (m) => warnings.push(m) }),
      );
      expect(d.info.executionProviders).toContain("cpu");
      await d.release();
      expect(warnings.some((w) => /cuda/i.test(w))).toBe(true);
    });
  },
);

describe("ONNX metadata reader", () => {
  it("reads metadata_props from a hand-encoded ModelProto and skips other fields", () => {
    const enc = new TextEncoder();
    const str = (field: number, s: string) => {
      const b = enc.encode(s);
      return [(field << 3) | 2, b.length, ...b];
    };
    const entry = (k: string, v: string) => {
      const body = [...str(1, k), ...str(2, v)];
      return [(14 << 3) | 2, body.length, ...body];
    };
    const bytes = Uint8Array.from([
      (1 << 3) | 0,
      7, // ir_version varint
      ...str(2, "pytorch"), // producer_name
      ...entry("names", "{0: 'person', 1: 'bicycle'}"),
      ...entry("imgsz", "[480, 640]"),
    ]);
    const meta = readOnnxMetadata(bytes);
    expect(parseUltralyticsNames(meta.get("names")!)).toEqual(["person", "bicycle"]);
    expect(parseImgsz(meta.get("imgsz")!)).toEqual({ width: 640, height: 480 });
  });

  it("refuses truncated bytes", () => {
    expect(() => readOnnxMetadata(Uint8Array.from([(14 << 3) | 2, 50, 1, 2]))).toThrow(/truncated/);
  });
});
