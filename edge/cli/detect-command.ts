import { readFile } from "node:fs/promises";
import { DEFAULT_COUNTED_CLASSES } from "../detect/coco-labels.ts";
import { type DetectorOptions, OnnxDetector } from "../detect/onnx-detector.ts";
import type { Detection } from "../domain/types.ts";

export interface DetectorCliOptions {
  model: string;
  modelDir: string;
  conf: string;
  iou: string;
  classes?: string;
  threads: string;
}

export function detectorOptionsFrom(
  o: DetectorCliOptions,
  overrides: Partial<DetectorOptions> = {},
): DetectorOptions {
  return {
    model: o.model,
    modelDir: o.modelDir,
    threads: Number(o.threads),
    graphOptimization: "all",
    executionProviders: ["cpu"],
    confidence: Number(o.conf),
    iou: Number(o.iou),
    classes: o.classes ? o.classes.split(",").map((c) => c.trim()) : DEFAULT_COUNTED_CLASSES,
    maxDetections: 300,
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
    ...overrides,
  };
}

interface ImageResult {
  image: string;
  detections?: Detection[];
  error?: string;
  timingsMs?: { preprocess: number; inference: number; postprocess: number };
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

export async function runDetect(
  images: string[],
  o: DetectorCliOptions & { json?: boolean },
): Promise<number> {
  const detector = await OnnxDetector.load(detectorOptionsFrom(o));
  const results: ImageResult[] = [];
  for (const image of images) {
    try {
      const data = await readFile(image);
      const detections = await detector.detect({ kind: "encoded", data });
      const t = detector.lastTimings;
      results.push({
        image,
        detections,
        timingsMs: {
          preprocess: round(t.preprocessMs),
          inference: round(t.inferenceMs),
          postprocess: round(t.postprocessMs, 2),
        },
      });
    } catch (err) {
      results.push({ image, error: (err as Error).message });
    }
  }
  await detector.release();
  if (o.json) {
    const info = detector.info;
    process.stdout.write(
      `${JSON.stringify({ model: { id: info.id, license: info.license, layout: info.layout, input: [info.inputWidth, info.inputHeight] }, results }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(
      `model ${detector.info.id} (${detector.info.layout}, ${detector.info.inputWidth}x${detector.info.inputHeight}, ${detector.info.license})\n`,
    );
    for (const r of results) {
      if (r.error) {
        process.stdout.write(`${r.image}: error: ${r.error}\n`);
        continue;
      }
      const dets = r.detections ?? [];
      const t = r.timingsMs!;
      process.stdout.write(
        `${r.image}: ${dets.length} detections (prepare ${t.preprocess} ms, model ${t.inference} ms, post ${t.postprocess} ms)\n`,
      );
      for (const d of dets) {
        const b = d.box;
        process.stdout.write(
          `  ${d.label.padEnd(11)} ${d.score.toFixed(2)}  [${Math.round(b.x1)}, ${Math.round(b.y1)}, ${Math.round(b.x2)}, ${Math.round(b.y2)}]\n`,
        );
      }
    }
  }
  return results.some((r) => r.error) ? 1 : 0;
}
