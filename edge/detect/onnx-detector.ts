import "./ort-privacy.ts"; // before onnxruntime-node: switches its telemetry off
import ort from "onnxruntime-node";
import type { Detection, FramePixels } from "../domain/types.ts";
import type { ViewRect } from "../domain/view.ts";
import { COCO80_LABELS } from "./coco-labels.ts";
import { type DecodeParams, type OutputTensor, resolveLayout } from "./decode.ts";
import type {
  CaptureTarget,
  Detector,
  DetectorInfo,
  DetectorOptions,
  DetectTimings,
  Size,
  Submitted,
} from "./detector.ts";
import { modelCaptureTarget, modelFrameSize } from "./letterbox.ts";
import {
  licenseWarning,
  type ModelDescriptor,
  type OutputLayout,
  type Preprocess,
  ultralyticsDefaults,
} from "./model-descriptor.ts";
import { ModelLoadError, readModelFile } from "./model-file.ts";
import { parseImgsz, parseUltralyticsNames, readOnnxMetadata } from "./onnx-metadata.ts";
import { sessionThreading } from "./ort-threads.ts";
import { type DecoderSetup, nmsGroupsFor, OutputDecoder } from "./output-decoder.ts";
import { Preprocessor } from "./preprocess.ts";

export type {
  DetectorInfo,
  DetectorOptions,
  DetectTimings,
  ExecutionProviderName,
  GraphOptimization,
} from "./detector.ts";
export { modelCaptureTarget, modelFrameSize };

interface ModelSetup {
  readonly id: string;
  readonly license: string;
  readonly width: number;
  readonly height: number;
  readonly preprocess: Preprocess;
  readonly strides: readonly number[];
  readonly declaredLayout: OutputLayout | undefined;
  readonly labels: readonly string[];
  readonly configuredFrom: DetectorInfo["configuredFrom"];
}

/** A YOLO-family detector running on ONNX Runtime. Not re-entrant: await one `detect` before the next. */
export class OnnxDetector implements Detector {
  readonly lastTimings: DetectTimings = { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 };
  readonly maxInFlight = 1;
  private busy = false;
  private readonly decoder: OutputDecoder;
  /** The outputs keep the warm-up's shapes, so `runOn` can hand ONNX Runtime buffers to fill. */
  private outputsFixed = true;

  private constructor(
    readonly info: DetectorInfo,
    private readonly session: ort.InferenceSession,
    private readonly preprocessor: Preprocessor,
    private readonly inputTensor: ort.Tensor,
    params: DecodeParams,
    options: DetectorOptions,
    /** How frames are resized and padded for this model. */
    readonly preprocess: Preprocess,
    /** Each output's shape, as the warm-up run gave it (fixed for a fixed input size). */
    private readonly outputDims: readonly (readonly number[])[],
  ) {
    this.decoder = new OutputDecoder({
      info: { layout: info.layout, labels: info.labels },
      params,
      iou: options.iou,
      maxDetections: options.maxDetections,
      nmsGroups: nmsGroupsFor(info.labels),
    });
  }

  static async load(options: DetectorOptions): Promise<OnnxDetector> {
    const warn = options.warn ?? (() => {});
    const file = readModelFile(options.model, options.modelDir);
    const { session, providers } = await createSession(file.bytes, file.path, options, warn);
    const inputMeta = session.inputMetadata[0];
    if (!inputMeta || session.inputNames.length !== 1) {
      throw new ModelLoadError(
        `model ${file.path} has ${session.inputNames.length} inputs; expected one image input`,
      );
    }
    const setup = describeModel(file.descriptor, file.bytes, file.path, inputMeta);
    const lw = licenseWarning({ id: setup.id, license: setup.license });
    if (lw) warn(lw);
    const preprocessor = new Preprocessor(setup.width, setup.height, setup.preprocess);
    const inputTensor = new ort.Tensor("float32", preprocessor.tensorData, [1, 3, setup.height, setup.width]);
    // Warm-up on the padding-filled tensor: allocates ORT's arenas and reveals the real output shapes.
    preprocessor.tensorData.fill(0);
    const warm = await session.run({ [session.inputNames[0]!]: inputTensor });
    const outputs = session.outputNames.map((name) => asOutput(name, warm[name], file.path));
    let resolved: ReturnType<typeof resolveLayout>;
    try {
      resolved = resolveLayout(outputs, setup.width, setup.height, setup.strides, setup.declaredLayout);
    } catch (err) {
      throw new ModelLoadError(`model ${file.path}: ${(err as Error).message}`);
    }
    const labels =
      resolved.numClasses > 0 && resolved.numClasses !== setup.labels.length
        ? Array.from({ length: resolved.numClasses }, (_, i) => setup.labels[i] ?? `class${i}`)
        : setup.labels;
    const allowed = new Uint8Array(Math.max(labels.length, 1));
    for (const name of options.classes) {
      const idx = labels.indexOf(name);
      if (idx < 0) throw new ModelLoadError(`class "${name}" is not among the model's labels (${file.path})`);
      allowed[idx] = 1;
    }
    const params: DecodeParams = {
      inputWidth: setup.width,
      inputHeight: setup.height,
      strides: setup.strides,
      confThreshold: options.confidence,
      allowed,
    };
    const info: DetectorInfo = {
      id: setup.id,
      path: file.path,
      license: setup.license,
      layout: resolved.layout,
      inputName: session.inputNames[0]!,
      inputWidth: setup.width,
      inputHeight: setup.height,
      labels,
      executionProviders: providers,
      configuredFrom: setup.configuredFrom,
      runsIn: "main-thread",
      ...(options.precision ? { precision: options.precision } : {}),
    };
    return new OnnxDetector(
      info,
      session,
      preprocessor,
      inputTensor,
      params,
      options,
      setup.preprocess,
      outputs.map((o) => o.dims),
    );
  }

  /**
   * Detections in source-image pixels, best score first. When the pixels are a scaled copy of the
   * scene (raw frames that the capture stage already shrank), `scene` gives the size boxes refer to;
   * `view` the part of the scene to detect in (see `Detector.detect`).
   */
  async detect(pixels: FramePixels, scene?: Size, view?: ViewRect): Promise<Detection[]> {
    if (this.busy) throw new Error("OnnxDetector.detect called while a previous call is still running");
    this.busy = true;
    try {
      const t0 = performance.now();
      const geometry = await this.preprocessor.prepare(pixels, view);
      const t1 = performance.now();
      const result = await this.session.run({ [this.info.inputName]: this.inputTensor });
      const t2 = performance.now();
      const outputs = this.session.outputNames.map((name) => asOutput(name, result[name], this.info.path));
      const detections = this.decoder.decode(outputs, geometry, scene);
      for (const name of this.session.outputNames) result[name]?.dispose?.();
      this.lastTimings.preprocessMs = t1 - t0;
      this.lastTimings.inferenceMs = t2 - t1;
      this.lastTimings.postprocessMs = performance.now() - t2;
      return detections;
    } finally {
      this.busy = false;
    }
  }

  /** On one thread there is nothing to overlap: the frame is detected before the next is taken. */
  async submit(pixels: FramePixels, scene?: Size, view?: ViewRect): Promise<Submitted> {
    const detections = await this.detect(pixels, scene, view);
    return { detections: Promise.resolve(detections) };
  }

  /**
   * The model alone on an input tensor prepared elsewhere (the worker's side of WorkerDetector):
   * the outputs are copied into `into` (grown when too small) and returned with their dims.
   */
  async runOn(
    input: Float32Array,
    into: ArrayBuffer[],
  ): Promise<{ readonly outputs: { readonly dims: readonly number[]; readonly buffer: ArrayBuffer }[] }> {
    const tensor = new ort.Tensor("float32", input, [1, 3, this.info.inputHeight, this.info.inputWidth]);
    const feeds = { [this.info.inputName]: tensor };
    const fetches = this.outputsFixed ? this.fetchesInto(into) : undefined;
    if (fetches) {
      // ONNX Runtime writes the outputs straight into the buffers that go back to the Node thread
      // (onnxruntime-node 1.30 also returns a copy of each, which is dropped: docs/performance.md)
      try {
        await this.session.run(feeds, fetches);
        return { outputs: this.outputDims.map((dims, k) => ({ dims, buffer: into[k] as ArrayBuffer })) };
      } catch {
        // a model whose output shapes vary from run to run: let ONNX Runtime allocate from now on
        this.outputsFixed = false;
      }
    }
    const result = await this.session.run(feeds);
    const outputs = this.session.outputNames.map((name, k) => {
      const o = asOutput(name, result[name], this.info.path);
      const have = into[k];
      const buffer = have && have.byteLength >= o.data.byteLength ? have : new ArrayBuffer(o.data.byteLength);
      new Float32Array(buffer, 0, o.data.length).set(o.data);
      return { dims: o.dims, buffer };
    });
    for (const name of this.session.outputNames) result[name]?.dispose?.();
    return { outputs };
  }

  /** Output tensors over `into` for `session.run` to fill, if every buffer is there and large enough. */
  private fetchesInto(into: readonly ArrayBuffer[]): Record<string, ort.Tensor> | undefined {
    const names = this.session.outputNames;
    if (into.length < names.length) return undefined;
    const fetches: Record<string, ort.Tensor> = {};
    for (let k = 0; k < names.length; k++) {
      const dims = this.outputDims[k] as readonly number[];
      const length = dims.reduce((a, b) => a * b, 1);
      const buffer = into[k] as ArrayBuffer;
      if (buffer.byteLength < length * 4) return undefined;
      fetches[names[k] as string] = new ort.Tensor("float32", new Float32Array(buffer, 0, length), dims);
    }
    return fetches;
  }

  /** What the worker's parent needs to decode this model's outputs itself. */
  get decoderSetup(): DecoderSetup {
    return this.decoder.setup;
  }

  frameSizeFor(width: number, height: number): Size {
    return modelFrameSize(this.info, this.preprocess, width, height);
  }

  captureTarget(): CaptureTarget {
    return modelCaptureTarget(this.info, this.preprocess);
  }

  /** Runs the model alone on whatever the input tensor holds (for benchmarks). */
  async runModelOnly(): Promise<void> {
    const result = await this.session.run({ [this.info.inputName]: this.inputTensor });
    for (const name of this.session.outputNames) result[name]?.dispose?.();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function asOutput(name: string, value: ort.OnnxValue | undefined, path: string): OutputTensor {
  if (value?.type !== "float32") {
    throw new ModelLoadError(
      `model ${path}: output ${name} is ${value?.type ?? "missing"}, expected float32`,
    );
  }
  return { name, dims: value.dims, data: value.data as Float32Array };
}

async function createSession(
  bytes: Buffer,
  path: string,
  options: DetectorOptions,
  warn: (m: string) => void,
): Promise<{ session: ort.InferenceSession; providers: string[] }> {
  const supported = new Set(ort.listSupportedBackends().map((b) => b.name));
  const wanted = options.executionProviders.filter((ep) => {
    if (ep === "cpu" || supported.has(ep)) return true;
    warn(`execution provider ${ep} is not available in this onnxruntime-node build; using the others`);
    return false;
  });
  const attempt = async (providers: string[]) =>
    ort.InferenceSession.create(bytes, {
      executionProviders: providers,
      graphOptimizationLevel: options.graphOptimization,
      ...sessionThreading(options.threads),
    });
  const providers = wanted.length > 0 ? wanted : ["cpu"];
  try {
    return { session: await attempt(providers), providers };
  } catch (firstErr) {
    let err = firstErr;
    if (providers.some((p) => p !== "cpu")) {
      warn(
        `could not start ${providers.join(", ")} (${(err as Error).message.split("\n")[0]}); falling back to CPU`,
      );
      try {
        return { session: await attempt(["cpu"]), providers: ["cpu"] };
      } catch (cpuErr) {
        err = cpuErr;
      }
    }
    throw new ModelLoadError(
      `ONNX Runtime could not load ${path} (${bytes.length} bytes): ${(err as Error).message.split("\n")[0]}. ` +
        "Expected a complete ONNX model file; a truncated download or a non-ONNX file gives this error.",
    );
  }
}

function describeModel(
  descriptor: ModelDescriptor | undefined,
  bytes: Buffer,
  path: string,
  inputMeta: ort.InferenceSession.ValueMetadata,
): ModelSetup {
  const shape = inputMeta.isTensor ? inputMeta.shape : [];
  const dimH = typeof shape[2] === "number" ? shape[2] : undefined;
  const dimW = typeof shape[3] === "number" ? shape[3] : undefined;
  if (descriptor) {
    if (
      (dimW !== undefined && dimW !== descriptor.input.width) ||
      (dimH !== undefined && dimH !== descriptor.input.height)
    ) {
      throw new ModelLoadError(
        `model ${path} takes input [${shape.join(", ")}] but manifest entry ${descriptor.id} says ` +
          `${descriptor.input.width}x${descriptor.input.height}`,
      );
    }
    return {
      id: descriptor.id,
      license: descriptor.license,
      width: descriptor.input.width,
      height: descriptor.input.height,
      preprocess: descriptor.preprocess,
      strides: descriptor.strides,
      declaredLayout: descriptor.layout,
      labels: COCO80_LABELS,
      configuredFrom: "manifest",
    };
  }
  let meta: Map<string, string>;
  try {
    meta = readOnnxMetadata(bytes);
  } catch (err) {
    throw new ModelLoadError(`model ${path} is not a readable ONNX file: ${(err as Error).message}`);
  }
  const names = meta.has("names") ? parseUltralyticsNames(meta.get("names")!) : undefined;
  const imgsz = meta.has("imgsz") ? parseImgsz(meta.get("imgsz")!) : undefined;
  const width = dimW ?? imgsz?.width;
  const height = dimH ?? imgsz?.height;
  if (!width || !height) {
    throw new ModelLoadError(
      `model ${path} has a dynamic input shape [${shape.join(", ")}] and no imgsz metadata; export it with a fixed size`,
    );
  }
  const stride = Number(meta.get("stride") ?? "32");
  const defaults = ultralyticsDefaults(width, height);
  const license = meta.get("license") ?? "unknown";
  return {
    id: path.split("/").pop() ?? path,
    license: license.includes("AGPL") ? "AGPL-3.0" : license,
    width,
    height,
    preprocess: defaults.preprocess,
    strides: stride === 32 ? defaults.strides : [8, 16, 32, 64].filter((s) => s <= stride),
    declaredLayout: undefined,
    labels: names ?? COCO80_LABELS,
    configuredFrom: names ? "ultralytics-metadata" : "defaults",
  };
}
