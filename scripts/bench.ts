// npm run bench [-- --section detect] [--iterations N] [--threads N] [--models a,b]
// Prints median and p90 milliseconds per stage. Figures, not assertions: the machine is shared and noisy.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { DEFAULT_COUNTED_CLASSES } from "../edge/detect/coco-labels.ts";
import { computeGeometry } from "../edge/detect/letterbox.ts";
import { loadManifest } from "../edge/detect/model-descriptor.ts";
import { OnnxDetector } from "../edge/detect/onnx-detector.ts";
import type { FramePixels } from "../edge/domain/types.ts";

const { values: args } = parseArgs({
  options: {
    section: { type: "string", default: "all" },
    iterations: { type: "string", default: "30" },
    threads: { type: "string", default: "0" },
    models: { type: "string" },
  },
});
const MODEL_DIR = resolve(process.env.MODEL_DIR ?? "../shared/models");
const DATA_DIR = resolve(process.env.DATA_DIR ?? "../shared/data");
const iterations = Number(args.iterations);

function stats(xs: number[]): { median: number; p90: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p90: at(0.9) };
}
const f = (v: number) => v.toFixed(2).padStart(7);

async function framesAt(width: number, height: number): Promise<Buffer[]> {
  return Promise.all(
    ["street.jpg", "dog.jpg", "person.jpg"].map((name) =>
      sharp(readFileSync(`${DATA_DIR}/images/${name}`))
        .resize(width, height, { fit: "cover" })
        .jpeg({ quality: 85 })
        .toBuffer(),
    ),
  );
}

async function rawFrames(jpegs: Buffer[], width: number, height: number): Promise<Buffer[]> {
  return Promise.all(
    jpegs.map((j) => sharp(j).resize(width, height, { fit: "fill" }).removeAlpha().raw().toBuffer()),
  );
}

async function benchDetect(): Promise<void> {
  const manifest = loadManifest();
  const ids = args.models ? args.models.split(",") : manifest.models.map((m) => m.id);
  console.log(
    `\n## detect: ${iterations} frames per row after warm-up, threads=${args.threads === "0" ? "auto" : args.threads}`,
  );
  console.log("ms per frame, median (p90); ratio = (prepare + post) / model");
  console.log(
    `${"model".padEnd(18)} ${"frame".padEnd(10)} ${"path".padEnd(22)} ${"prepare".padStart(17)} ${"model".padStart(17)} ${"post".padStart(17)}  ratio`,
  );
  for (const id of ids) {
    const desc = manifest.models.find((m) => m.id === id)!;
    const detector = await OnnxDetector.load({
      model: id,
      modelDir: MODEL_DIR,
      threads: Number(args.threads),
      graphOptimization: "all",
      executionProviders: ["cpu"],
      confidence: 0.3,
      iou: 0.45,
      classes: DEFAULT_COUNTED_CLASSES,
      maxDetections: 300,
    });
    for (const [w, h] of [
      [1280, 720],
      [1920, 1080],
    ] as const) {
      const jpegs = await framesAt(w, h);
      const g = computeGeometry(
        w,
        h,
        desc.input.width,
        desc.input.height,
        desc.preprocess.resize,
        desc.preprocess.padPlacement,
      );
      const scaled = await rawFrames(jpegs, g.resizedWidth, g.resizedHeight);
      const fullRaw = await rawFrames(jpegs, w, h);
      const paths: [string, (i: number) => FramePixels][] = [
        ["jpeg (decode+resize)", (i) => ({ kind: "encoded", data: jpegs[i % jpegs.length]! })],
        [
          "raw rgb full size",
          (i) => ({ kind: "rgb", data: fullRaw[i % fullRaw.length]!, width: w, height: h }),
        ],
        [
          "raw rgb model-sized",
          (i) => ({
            kind: "rgb",
            data: scaled[i % scaled.length]!,
            width: g.resizedWidth,
            height: g.resizedHeight,
          }),
        ],
      ];
      for (const [name, frame] of paths) {
        for (let i = 0; i < 3; i++) await detector.detect(frame(i));
        const pre: number[] = [];
        const run: number[] = [];
        const post: number[] = [];
        for (let i = 0; i < iterations; i++) {
          await detector.detect(frame(i));
          pre.push(detector.lastTimings.preprocessMs);
          run.push(detector.lastTimings.inferenceMs);
          post.push(detector.lastTimings.postprocessMs);
        }
        const [p, r, q] = [stats(pre), stats(run), stats(post)];
        console.log(
          `${id.padEnd(18)} ${`${w}x${h}`.padEnd(10)} ${name.padEnd(22)} ${f(p.median)} (${f(p.p90)}) ${f(r.median)} (${f(r.p90)}) ${f(q.median)} (${f(q.p90)})  ${((p.median + q.median) / r.median).toFixed(3)}`,
        );
      }
    }
    await detector.release();
  }
}

const sections: Record<string, () => Promise<void>> = { detect: benchDetect };
console.log(
  `# bench on ${process.platform}/${process.arch}, node ${process.version}, ${(await import("node:os")).cpus().length} cores`,
);
for (const [name, fn] of Object.entries(sections)) {
  if (args.section === "all" || args.section === name) await fn();
}
