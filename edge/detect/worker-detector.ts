import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { Detection, FramePixels } from "../domain/types.ts";
import type { ViewRect } from "../domain/view.ts";
import type {
  CaptureTarget,
  Detector,
  DetectorInfo,
  DetectorOptions,
  DetectTimings,
  Size,
  Submitted,
} from "./detector.ts";
import { type InputGeometry, modelCaptureTarget, modelFrameSize } from "./letterbox.ts";
import type { Preprocess } from "./model-descriptor.ts";
import { ModelLoadError } from "./model-file.ts";
import { type DecoderSetup, OutputDecoder } from "./output-decoder.ts";
import { ImageDecodeError, Preprocessor } from "./preprocess.ts";
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

interface Slot {
  readonly preprocessor: Preprocessor;
  /** Output buffers as the worker last returned them (empty before the first frame). */
  outputs: ArrayBuffer[];
  /** Set while the slot's frame is in the worker. */
  pending:
    | {
        readonly geometry: InputGeometry;
        readonly scene: Size | undefined;
        readonly preprocessMs: number;
        readonly resolve: (d: Detection[]) => void;
        readonly reject: (e: Error) => void;
      }
    | undefined;
}

/**
 * A detector whose model runs in a worker thread. ONNX Runtime's `run()` blocks the thread it is
 * called on for a whole inference; here that is the worker's thread, so the Node thread stays free
 * for the camera pipe, the API, MQTT keep-alives and the interval clock. Preparing a frame and
 * decoding the model's outputs stay on the Node thread, where they overlap the inference of the
 * frame before: two slots, each with its own input tensor, take turns (`maxInFlight` = 2). Tensors
 * and output buffers are moved to the worker and back, never copied across.
 */
export class WorkerDetector implements Detector {
  readonly lastTimings: DetectTimings = { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 };
  readonly maxInFlight = 2;
  private readonly slots: Slot[];
  private readonly decoder: OutputDecoder;
  private next = 0;
  private released = false;
  private failure: Error | undefined;

  private constructor(
    readonly info: DetectorInfo,
    private readonly preprocess: Preprocess,
    decoder: DecoderSetup,
    private readonly worker: Worker,
  ) {
    this.decoder = new OutputDecoder(decoder);
    this.slots = Array.from({ length: this.maxInFlight }, () => ({
      preprocessor: new Preprocessor(info.inputWidth, info.inputHeight, preprocess),
      outputs: [],
      pending: undefined,
    }));
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
          return;
        }
        worker.on("message", (w: FromWorker) => {
          if (w.type === "warn") warn?.(w.message);
        });
        resolve(new WorkerDetector(m.info, m.preprocess, m.decoder, worker));
      };
      worker.on("message", onMessage);
      worker.once("error", onError);
      worker.once("exit", onExit);
    });
  }

  async detect(pixels: FramePixels, scene?: Size, view?: ViewRect): Promise<Detection[]> {
    return (await this.submit(pixels, scene, view)).detections;
  }

  async submit(pixels: FramePixels, scene?: Size, view?: ViewRect): Promise<Submitted> {
    if (this.failure) throw this.failure;
    const index = this.next;
    const slot = this.slots[index] as Slot;
    if (slot.pending || slot.preprocessor.tensorData.length === 0)
      throw new Error(
        `WorkerDetector: more than ${this.maxInFlight} frames submitted before their detections were awaited`,
      );
    this.next = (index + 1) % this.slots.length;
    const t0 = performance.now();
    const geometry = await slot.preprocessor.prepare(pixels, view);
    const preprocessMs = performance.now() - t0;
    const detections = new Promise<Detection[]>((resolve, reject) => {
      slot.pending = { geometry, scene, preprocessMs, resolve, reject };
    });
    // a failure may arrive before the caller awaits this frame (it awaits the one before first):
    // marked handled here, it still rejects the caller's await
    detections.catch(() => {});
    const input = slot.preprocessor.lend();
    const outputs = slot.outputs;
    slot.outputs = [];
    this.worker.postMessage({ type: "run", slot: index, input, outputs } satisfies ToWorker, [
      input,
      ...outputs,
    ]);
    return { detections };
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
    if (!this.failure) {
      const done = new Promise<void>((resolve) => {
        this.worker.on("message", (m: FromWorker) => m.type === "released" && resolve());
        this.worker.once("exit", () => resolve());
      });
      this.worker.postMessage({ type: "release" } satisfies ToWorker);
      await done;
    }
    await this.worker.terminate();
  }

  private onMessage(m: FromWorker): void {
    if (m.type !== "ran" && m.type !== "run-failed") return;
    const slot = this.slots[m.slot];
    if (!slot) return;
    slot.preprocessor.takeBack(m.input);
    const p = slot.pending;
    slot.pending = undefined;
    if (m.type === "run-failed") {
      slot.outputs = m.outputs;
      p?.reject(revive(m.error));
      return;
    }
    slot.outputs = m.outputs.map((o) => o.buffer);
    if (!p) return;
    const t0 = performance.now();
    try {
      const tensors = m.outputs.map((o, k) => ({
        name: `output${k}`,
        dims: o.dims,
        data: new Float32Array(
          o.buffer,
          0,
          o.dims.reduce((a, b) => a * b, 1),
        ),
      }));
      const detections = this.decoder.decode(tensors, p.geometry, p.scene);
      this.lastTimings.preprocessMs = p.preprocessMs;
      this.lastTimings.inferenceMs = m.inferenceMs;
      this.lastTimings.postprocessMs = performance.now() - t0;
      p.resolve(detections);
    } catch (err) {
      p.reject(err as Error);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const slot of this.slots) {
      const p = slot.pending;
      slot.pending = undefined;
      p?.reject(err);
    }
  }
}
