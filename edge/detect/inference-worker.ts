import { parentPort, workerData } from "node:worker_threads";
import { OnnxDetector } from "./onnx-detector.ts";
import type { FromWorker, SerializedError, ToWorker, WorkerInit } from "./worker-protocol.ts";

// The worker side of WorkerDetector: the model and nothing else. Its blocking `session.run()` holds
// this thread, while the Node thread prepares the next frame, decodes the last one's outputs, reads
// the camera and serves the API.
const port = parentPort;
if (!port) throw new Error("inference-worker.ts runs only as a worker thread");
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const serialize = (err: unknown): SerializedError =>
  err instanceof Error ? { name: err.name, message: err.message } : { name: "Error", message: String(err) };

const init = workerData as WorkerInit;
let detector: OnnxDetector | undefined;
try {
  detector = await OnnxDetector.load({ ...init, warn: (message) => post({ type: "warn", message }) });
  post({
    type: "ready",
    info: { ...detector.info, runsIn: "worker" },
    preprocess: detector.preprocess,
    decoder: detector.decoderSetup,
  });
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
  try {
    const t0 = performance.now();
    const { outputs } = await detector.runOn(new Float32Array(m.input), m.outputs);
    const inferenceMs = performance.now() - t0;
    post({ type: "ran", slot: m.slot, input: m.input, outputs, inferenceMs }, [
      m.input,
      ...outputs.map((o) => o.buffer),
    ]);
  } catch (err) {
    post({ type: "run-failed", slot: m.slot, input: m.input, outputs: m.outputs, error: serialize(err) }, [
      m.input,
      ...m.outputs,
    ]);
  }
});
