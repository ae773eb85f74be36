import { readFileSync } from "node:fs";
import sharp from "sharp";
import { computeGeometry } from "../../edge/detect/letterbox.ts";
import { detectorOptionsFrom } from "../../edge/detect/load-detector.ts";
import { loadManifest } from "../../edge/detect/model-descriptor.ts";
import { OnnxDetector } from "../../edge/detect/onnx-detector.ts";
import type { FramePixels } from "../../edge/domain/types.ts";
import { benchConfig, DATA_DIR } from "./inputs.ts";
import type { BenchOptions } from "./options.ts";
import { medianAndP90, msColumn } from "./stats.ts";

/** The photos of $DATA_DIR/images cut to a camera frame size, as JPEG (quality 85). */
async function jpegFramesAt(width: number, height: number): Promise<Buffer[]> {
  return Promise.all(
    ["street.jpg", "dog.jpg", "person.jpg"].map((name) =>
      sharp(readFileSync(`${DATA_DIR}/images/${name}`))
        .resize(width, height, { fit: "cover" })
        .jpeg({ quality: 85 })
        .toBuffer(),
    ),
  );
}

async function rawRgbFrames(jpegs: Buffer[], width: number, height: number): Promise<Buffer[]> {
  return Promise.all(
    jpegs.map((j) => sharp(j).resize(width, height, { fit: "fill" }).removeAlpha().raw().toBuffer()),
  );
}

/** Detector cost per frame (prepare, model, post) for each model, frame size and frame path. */
export async function benchDetect(options: BenchOptions): Promise<void> {
  const manifest = loadManifest();
  const ids = options.models ?? manifest.models.map((m) => m.id);
  const { iterations } = options;
  console.log(
    `\n## detect: ${iterations} frames per row after warm-up, threads=${options.threads === 0 ? "auto" : options.threads}`,
  );
  console.log("ms per frame, median (p90); ratio = (prepare + post) / model");
  console.log(
    `${"model".padEnd(18)} ${"frame".padEnd(10)} ${"path".padEnd(22)} ${"prepare".padStart(17)} ${"model".padStart(17)} ${"post".padStart(17)}  ratio`,
  );
  for (const id of ids) {
    const descriptor = manifest.models.find((m) => m.id === id);
    if (!descriptor)
      throw new Error(
        `--models: no model "${id}" in the manifest (${manifest.models.map((m) => m.id).join(", ")})`,
      );
    const model = benchConfig("detect", { source: "none.mp4" }, options.threads, "unused.db").model;
    const detector = await OnnxDetector.load(detectorOptionsFrom({ ...model, id, confidence: 0.3 }));
    for (const [w, h] of [
      [1280, 720],
      [1920, 1080],
    ] as const) {
      const jpegs = await jpegFramesAt(w, h);
      const letterbox = computeGeometry(
        w,
        h,
        descriptor.input.width,
        descriptor.input.height,
        descriptor.preprocess.resize,
        descriptor.preprocess.padPlacement,
      );
      const modelSized = await rawRgbFrames(jpegs, letterbox.resizedWidth, letterbox.resizedHeight);
      const fullSize = await rawRgbFrames(jpegs, w, h);
      const paths: [string, (i: number) => FramePixels][] = [
        ["jpeg (decode+resize)", (i) => ({ kind: "encoded", data: jpegs[i % jpegs.length]! })],
        [
          "raw rgb full size",
          (i) => ({ kind: "rgb", data: fullSize[i % fullSize.length]!, width: w, height: h }),
        ],
        [
          "raw rgb model-sized",
          (i) => ({
            kind: "rgb",
            data: modelSized[i % modelSized.length]!,
            width: letterbox.resizedWidth,
            height: letterbox.resizedHeight,
          }),
        ],
      ];
      for (const [name, frame] of paths) {
        for (let i = 0; i < 3; i++) await detector.detect(frame(i));
        const prepareMs: number[] = [];
        const modelMs: number[] = [];
        const postMs: number[] = [];
        for (let i = 0; i < iterations; i++) {
          await detector.detect(frame(i));
          prepareMs.push(detector.lastTimings.preprocessMs);
          modelMs.push(detector.lastTimings.inferenceMs);
          postMs.push(detector.lastTimings.postprocessMs);
        }
        const [prepare, run, post] = [medianAndP90(prepareMs), medianAndP90(modelMs), medianAndP90(postMs)];
        console.log(
          `${id.padEnd(18)} ${`${w}x${h}`.padEnd(10)} ${name.padEnd(22)} ${msColumn(prepare.median)} (${msColumn(prepare.p90)}) ${msColumn(run.median)} (${msColumn(run.p90)}) ${msColumn(post.median)} (${msColumn(post.p90)})  ${((prepare.median + post.median) / run.median).toFixed(3)}`,
        );
      }
    }
    await detector.release();
  }
}
