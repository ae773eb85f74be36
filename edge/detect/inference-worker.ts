import { parentPort, workerData } from "node:worker_threads";
import type { FramePixels } from "../domain/types.ts";
import { OnnxDetector } from "./onnx-detector.ts";
import type { FromWorker, SerializedError, ToWorker, WorkerInit } from "./worker-protocol.ts";

// The worker side of WorkerDetector: one OnnxDetector, one frame at a time. Its blocking
// `session.run()` holds this thread, not the Node thread that reads the camera and serves the API.
const port = parentPort;
if (!port) throw new Error("inference-worker.ts runs only as a worker thread");
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const serialize = (err: unknown): SerializedError =>
  err instanceof Error ? { name: err.name, message: err.message } : { name: "Error", message: String(err) };

const init = workerData as WorkerInit;
let detector: OnnxDetector | undefined;
try {
  detector = await OnnxDetector.load({ ...init, warn: (message) => post({ type: "warn", message }) });
  post({ type: "ready", info: { ...detector.info, runsIn: "worker" }, preprocess: detector.preprocess });
} catch (err) {
  post({ type: "load-failed", error: serialize(err) });
}

port.on("message", async (m: ToWorker) => {
  if (!detector) return;
  if (m.type === "release") {
    await detector.release();
    post({ type: "released" });
    return;
  }
  const data = Buffer.from(m.buffer, 0, m.byteLength);
  const pixels: FramePixels = m.pixels.kind === "rgb" ? { ...m.pixels, data } : { kind: "encoded", data };
  try {
    const detections = await detector.detect(pixels, m.scene);
    post({ type: "detected", detections, timings: { ...detector.lastTimings }, buffer: m.buffer }, [
      m.buffer,
    ]);
  } catch (err) {
    post({ type: "detect-failed", error: serialize(err), buffer: m.buffer }, [m.buffer]);
  }
});
