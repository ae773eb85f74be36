import { availableParallelism, getPriority, setPriority } from "node:os";
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

/** How much lower the model runs than the Node thread when its threads fill every core. */
const INFERENCE_NICE = 5;

const init = workerData as WorkerInit;
yieldToNodeThreadWhenCoresAreFull(init.threads);
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

/**
 * When the model's threads take every core (`threads` 0 is one per core), the Node thread — camera
 * pipe, API, MQTT keep-alives, the interval clock — would queue behind them for a core: this thread
 * lowers its priority by `INFERENCE_NICE` first, so ONNX Runtime's pool threads, created with the
 * session, inherit it (on Linux a nice value belongs to a thread). With a core left over it stays:
 * there, giving way only lets ffmpeg interrupt the model. Measured in docs/performance.md.
 */
function yieldToNodeThreadWhenCoresAreFull(threads: number): void {
  if (threads !== 0 && threads < availableParallelism()) return;
  try {
    setPriority(0, Math.min(19, getPriority(0) + INFERENCE_NICE));
  } catch (err) {
    post({
      type: "warn",
      message: `the inference thread's priority was left as it is: ${(err as Error).message}`,
    });
  }
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
