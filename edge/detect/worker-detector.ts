import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { Detection, FramePixels } from "../domain/types.ts";
import type {
  CaptureTarget,
  Detector,
  DetectorInfo,
  DetectorOptions,
  DetectTimings,
  Size,
} from "./detector.ts";
import type { Preprocess } from "./model-descriptor.ts";
import { ModelLoadError } from "./model-file.ts";
import { modelCaptureTarget, modelFrameSize } from "./onnx-detector.ts";
import { ImageDecodeError } from "./preprocess.ts";
import type { FromWorker, SerializedError, ToWorker, WorkerInit } from "./worker-protocol.ts";

/** Errors that keep their meaning across the thread boundary (callers test with instanceof). */
function revive(e: SerializedError): Error {
  const err =
    e.name === "ModelLoadError"
      ? new ModelLoadError(e.message)
      : e.name === "ImageDecodeError"
        ? new ImageDecodeError(e.message)
        : new Error(e.message);
  return err;
}

/**
 * The worker's entry. From the TypeScript sources it needs tsx's loader registered first, which a
 * worker does not inherit; a built `dist/` runs the compiled .js directly.
 */
function startWorker(init: WorkerInit): Worker {
  const entry = new URL(
    `./inference-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`,
    import.meta.url,
  );
  // tsx's ESM build of its API sits beside the CommonJS one that require.resolve finds
  const tsx = entry.pathname.endsWith(".ts")
    ? pathToFileURL(
        createRequire(import.meta.url)
          .resolve("tsx/esm/api")
          .replace(/\.cjs$/, ".mjs"),
      ).href
    : null;
  const boot = `const { workerData } = require("node:worker_threads");
(workerData.tsx ? import(workerData.tsx).then((api) => api.register()) : Promise.resolve())
  .then(() => import(workerData.entry))
  .catch((err) => { process.nextTick(() => { throw err; }); });`;
  return new Worker(boot, { eval: true, workerData: { ...init, entry: entry.href, tsx } });
}

/**
 * A detector whose model runs in a worker thread: ONNX Runtime's `run()` blocks the thread it is
 * called on for a whole inference, so on the Node thread the camera pipe, the API, MQTT keep-alives
 * and the interval clock would wait behind every frame. Frames travel in pool buffers that are
 * moved to the worker and back (one copy from the capture buffer, none across the thread).
 */
export class WorkerDetector implements Detector {
  readonly lastTimings: DetectTimings = { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 };
  private readonly pool: ArrayBuffer[] = [];
  private pending: { resolve: (d: Detection[]) => void; reject: (e: Error) => void } | undefined;
  private released = false;
  private exitError: Error | undefined;

  private constructor(
    readonly info: DetectorInfo,
    private readonly preprocess: Preprocess,
    private readonly worker: Worker,
  ) {
    worker.on("message", (m: FromWorker) => this.onMessage(m));
    worker.on("error", (err) => this.fail(err));
    worker.on("exit", (code) => {
      if (!this.released) this.fail(new Error(`the inference worker exited unexpectedly (code ${code})`));
    });
  }

  static load(options: DetectorOptions): Promise<WorkerDetector> {
    const { warn, ...init } = options;
    const worker = startWorker(init);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      const onExit = (code: number) =>
        reject(new Error(`the inference worker exited with ${code} while loading`));
      const onMessage = (m: FromWorker) => {
        if (m.type === "warn") warn?.(m.message);
        if (m.type !== "ready" && m.type !== "load-failed") return;
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
        if (m.type === "load-failed") {
          void worker.terminate();
          reject(revive(m.error));
        } else {
          const d = new WorkerDetector(m.info, m.preprocess, worker);
          worker.on("message", (w: FromWorker) => {
            if (w.type === "warn") warn?.(w.message);
          });
          resolve(d);
        }
      };
      worker.on("message", onMessage);
      worker.once("error", onError);
      worker.once("exit", onExit);
    });
  }

  detect(pixels: FramePixels, scene?: Size): Promise<Detection[]> {
    if (this.exitError) return Promise.reject(this.exitError);
    if (this.pending) throw new Error("WorkerDetector.detect called while a previous call is still running");
    const buffer = this.bufferFor(pixels.data.byteLength);
    pixels.data.copy(new Uint8Array(buffer), 0, 0, pixels.data.byteLength);
    const request: ToWorker = {
      type: "detect",
      buffer,
      byteLength: pixels.data.byteLength,
      pixels:
        pixels.kind === "rgb"
          ? { kind: "rgb", width: pixels.width, height: pixels.height }
          : { kind: "encoded" },
      scene,
    };
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(request, [buffer]);
    });
  }

  frameSizeFor(width: number, height: number): Size {
    return modelFrameSize(this.info, this.preprocess, width, height);
  }

  captureTarget(): CaptureTarget {
    return modelCaptureTarget(this.info, this.preprocess);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (!this.exitError) {
      const done = new Promise<void>((resolve) => {
        this.worker.on("message", (m: FromWorker) => m.type === "released" && resolve());
        this.worker.once("exit", () => resolve());
      });
      this.worker.postMessage({ type: "release" } satisfies ToWorker);
      await done;
    }
    await this.worker.terminate();
  }

  /** A pool buffer at least `bytes` long (frames of one source have one size, so this settles). */
  private bufferFor(bytes: number): ArrayBuffer {
    const i = this.pool.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return this.pool.splice(i, 1)[0] as ArrayBuffer;
    return new ArrayBuffer(bytes);
  }

  private onMessage(m: FromWorker): void {
    if (m.type !== "detected" && m.type !== "detect-failed") return;
    if (this.pool.length < 2) this.pool.push(m.buffer);
    const p = this.pending;
    this.pending = undefined;
    if (m.type === "detected") {
      Object.assign(this.lastTimings, m.timings);
      p?.resolve(m.detections);
    } else p?.reject(revive(m.error));
  }

  private fail(err: Error): void {
    this.exitError ??= err;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
  }
}
