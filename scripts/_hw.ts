import { decodeVideoFrames } from "../edge/capture/ffmpeg.ts";
import { OnnxDetector } from "../edge/detect/onnx-detector.ts";
import { EVAL_PIPELINE_OPTIONS } from "../edge/eval/count-eval.ts";
import { readCountingSequence } from "../edge/eval/sequence.ts";
import { Pipeline } from "../edge/pipeline/pipeline.ts";
const seq = readCountingSequence(process.argv[2]!);
const d = await OnnxDetector.load({ model: process.argv[3] ?? "yolox-nano", modelDir: "/work/shared/models", threads: 2, graphOptimization: "all", executionProviders: ["cpu"], confidence: 0.2, iou: 0.45, classes: ["person", "bicycle", "motorcycle", "car", "truck", "bus"], maxDetections: 300 });
const size = d.frameSizeFor(seq.width, seq.height);
const p = new Pipeline(EVAL_PIPELINE_OPTIONS, { lines: seq.lines, zones: [] });
let i = 0;
for await (const rgb of decodeVideoFrames(seq.video, size.width, size.height)) {
  const dets = await d.detect({ kind: "rgb", data: rgb, width: size.width, height: size.height }, { width: seq.width, height: seq.height });
  const r = p.step({ tsMs: (i * 1000) / seq.frameRate, width: seq.width, height: seq.height }, dets);
  for (const c of r.crossings) console.log(i, c.line, `${c.from}>${c.to}`, c.mode);
  if (process.argv[4] && i >= Number(process.argv[4]) && i <= Number(process.argv[5])) console.log("  f", i, r.users.map((u) => `${u.trackId}:${u.mode}${u.confirmed ? "" : "?"}${u.seen ? "" : "(lost)"}@${Math.round((u.box.x1 + u.box.x2) / 2)},${Math.round(u.box.y2)}`).join(" "));
  i++;
}
