import { decodeVideoFrames } from "../edge/capture/ffmpeg.ts";
import { OnnxDetector } from "../edge/detect/onnx-detector.ts";
const [video, W, H, model, from, to] = process.argv.slice(2) as [string, string, string, string, string, string];
const d = await OnnxDetector.load({ model, modelDir: "/work/shared/models", threads: 2, graphOptimization: "all", executionProviders: ["cpu"], confidence: 0.1, iou: 0.45, classes: ["person", "bicycle", "motorcycle", "car", "truck", "bus"], maxDetections: 300 });
const size = d.frameSizeFor(Number(W), Number(H));
let i = 0;
for await (const rgb of decodeVideoFrames(video, size.width, size.height)) {
  if (i >= Number(from) && i <= Number(to)) {
    const dets = await d.detect({ kind: "rgb", data: rgb, width: size.width, height: size.height }, { width: Number(W), height: Number(H) });
    console.log(i, dets.filter((x) => x.box.y2 > 200 && x.box.y2 < 420).map((x) => `${x.label}:${x.score.toFixed(2)}@${Math.round(x.box.x1)},${Math.round(x.box.y1)},${Math.round(x.box.x2)},${Math.round(x.box.y2)}`).join(" "));
  }
  i++;
}
