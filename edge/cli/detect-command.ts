import { readFile } from "node:fs/promises";
import { parseSection } from "../config/load.ts";
import { type ModelConfig, ModelSchema } from "../config/schema.ts";
import type { Detector } from "../detect/detector.ts";
import { loadDetector } from "../detect/load-detector.ts";
import type { Detection } from "../domain/types.ts";

/** Model options of the commands that run a detector; what is not given takes the schema's default. */
export interface DetectorCliOptions {
  model: string;
  modelDir: string;
  conf?: string;
  iou?: string;
  classes?: string;
  threads?: string;
}

/**
 * The command line's model options as a `model` configuration section (defaults from the schema).
 * Commands run the model they name: `--model yolox-nano` is the float model even when an int8 copy
 * is beside it (`--model FILE.int8.onnx` runs that one); only `counter run` chooses by measurement.
 */
export function modelConfigFrom(o: DetectorCliOptions, overrides: Partial<ModelConfig> = {}): ModelConfig {
  const raw: Record<string, unknown> = { id: o.model, dir: o.modelDir, precision: "float32", ...overrides };
  if (o.conf !== undefined) raw.confidence = Number(o.conf);
  if (o.iou !== undefined) raw.iou = Number(o.iou);
  if (o.threads !== undefined) raw.threads = Number(o.threads);
  if (o.classes !== undefined) raw.classes = o.classes.split(",").map((c) => c.trim());
  return parseSection(ModelSchema, raw, "model", "command line");
}

/** Loads the detector the command line describes; warnings go to stderr. */
export function loadCliDetector(
  o: DetectorCliOptions,
  overrides: Partial<ModelConfig> = {},
): Promise<Detector> {
  return loadDetector(modelConfigFrom(o, overrides), (m) => process.stderr.write(`warning: ${m}\n`));
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
  const detector = await loadCliDetector(o);
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
      const t = r.timingsMs ?? { preprocess: 0, inference: 0, postprocess: 0 };
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
