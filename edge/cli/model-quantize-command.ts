import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import ort from "onnxruntime-node";
import { CaptureError } from "../capture/ffmpeg.ts";
import { openCamera, type SourceKind, sourceKind } from "../capture/open.ts";
import type { SourceState } from "../capture/source.ts";
import type { Config } from "../config/schema.ts";
import { modelCaptureTarget } from "../detect/letterbox.ts";
import { ModelLoadError, readModelFile } from "../detect/model-file.ts";
import { int8PathFor } from "../detect/precision.ts";
import { DEFAULT_RECIPE, type QuantizeRecipe, quantizeModel } from "../detect/quantize.ts";
import { Redactor } from "../domain/redact.ts";
import type { FramePixels } from "../domain/types.ts";

export interface QuantizeCliOptions {
  modelDir: string;
  calibration?: string;
  /** A device file: calibrate on frames of the camera it configures, held in memory only. */
  camera?: Config;
  /** With `camera`: seconds of the camera's time between two calibration frames. */
  every?: string;
  frames: string;
  out?: string;
  ops?: string;
  stemConvs?: string;
  headDepth?: string;
  range?: string;
  percentile?: string;
  threads?: string;
}

const IMAGE = /\.(jpe?g|png)$/i;

/** The default calibration folder: COCO train2017 images (the accuracy is measured on val2017 ones). */
export function defaultCalibrationDir(): string {
  return join(process.env.DATA_DIR ?? "../shared/data", "coco128-train2017", "images");
}

/** The recipe file written beside a quantized model. */
export function recipePathFor(modelPath: string): string {
  return modelPath.replace(/\.onnx$/i, "") + ".json";
}

async function* imageFrames(files: readonly string[]): AsyncGenerator<FramePixels> {
  for (const f of files) yield { kind: "encoded", data: readFileSync(f) };
}

/** What `cameraFrames` needs to grab calibration frames from the device's camera. */
interface CameraGrab {
  readonly camera: Config["camera"];
  readonly kind: SourceKind;
  readonly target: ReturnType<typeof modelCaptureTarget>;
  readonly count: number;
  readonly everySec: number;
  /** Camera text (its errors) for stderr: secrets and the camera's address taken out. */
  readonly clean: (text: string) => string;
}

/**
 * Frames of the device's own camera, `everySec` of its time apart, at the model's input size: the
 * ranges then fit the scene the model will see. Each frame is handed over before the next is read
 * and lives only in memory (the calibration keeps its prepared tensor, never a file); the camera is
 * closed after the last one. A replayed file that ends early gives the frames it had.
 *
 * The supervised camera restarts forever, so waiting for it has a deadline of `count × everySec +
 * 2 × stallTimeoutSec + 10` s (the time the calibration spends on a frame is not counted): then the
 * frames taken so far are used, and none is an error.
 */
async function* cameraFrames(g: CameraGrab): AsyncGenerator<FramePixels> {
  const deadlineSec = g.count * g.everySec + 2 * g.camera.stallTimeoutSec + 10;
  const describe = (s: SourceState) =>
    `${s.state}${s.state === "down" && s.lastError ? `: ${g.clean(s.lastError)}` : ""}`;
  // one line per change: a camera that never delivers is otherwise a silent hang
  const { source } = openCamera(g.camera, g.target, (s) =>
    process.stderr.write(`camera ${g.kind}: ${describe(s)}\n`),
  );
  process.stderr.write(`camera ${g.kind}: ${describe(source.state())}\n`);
  const stop = new AbortController();
  const startMs = performance.now();
  let leftMs = deadlineSec * 1000;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let waitingSinceMs = 0;
  const waitForCamera = () => {
    waitingSinceMs = performance.now();
    timer = setTimeout(() => {
      timedOut = true;
      stop.abort();
    }, leftMs);
  };
  const frameCame = () => {
    clearTimeout(timer);
    leftMs -= performance.now() - waitingSinceMs;
  };
  const everyMs = g.everySec * 1000;
  let lastMs = Number.NEGATIVE_INFINITY;
  let taken = 0;
  try {
    waitForCamera();
    for await (const frame of source.frames(stop.signal)) {
      if (frame.tsMs - lastMs < everyMs) continue;
      lastMs = frame.tsMs;
      frameCame();
      yield frame.pixels;
      if (++taken >= g.count) break;
      waitForCamera();
    }
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  if (!timedOut) return;
  const seconds = ((performance.now() - startMs) / 1000).toFixed(1);
  if (taken === 0) {
    throw new CaptureError(
      `no frame came from the camera (${g.kind}) within ${deadlineSec} s ` +
        `(--frames ${g.count} × --every ${g.everySec} s + 2 × camera.stallTimeoutSec + 10 s); ` +
        `camera ${describe(source.state())}`,
    );
  }
  process.stderr.write(`took ${taken} of ${g.count} frames in ${seconds} s; calibrating on those\n`);
}

export async function runQuantize(ref: string, o: QuantizeCliOptions): Promise<number> {
  const file = readModelFile(ref, o.modelDir);
  if (!file.descriptor) {
    throw new ModelLoadError(
      `${file.path} is not a manifest model (by id or sha256); quantize needs its input description`,
    );
  }
  if (file.quantizedFrom)
    throw new ModelLoadError(`${file.path} is already quantized (from ${file.quantizedFrom})`);
  const d = file.descriptor;
  const frames = Number(o.frames);
  if (!Number.isInteger(frames) || frames < 1)
    throw new Error(`--frames must be a positive integer, got ${o.frames}`);
  const calibration = o.camera
    ? calibrateOnCamera(o.camera, d, frames, o.every)
    : calibrateOnFolder(resolve(o.calibration ?? defaultCalibrationDir()), frames);
  const ops = o.ops ?? DEFAULT_RECIPE.ops;
  if (ops !== "conv" && ops !== "all") throw new Error(`--ops must be conv or all, got ${ops}`);
  const range = o.range ?? DEFAULT_RECIPE.range;
  if (range !== "minmax" && range !== "mean" && range !== "percentile")
    throw new Error(`--range must be minmax, mean or percentile, got ${range}`);
  const recipe: QuantizeRecipe = {
    ...DEFAULT_RECIPE,
    ops,
    range,
    ...(o.stemConvs !== undefined ? { stemConvs: Number(o.stemConvs) } : {}),
    ...(o.headDepth !== undefined ? { headDepth: Number(o.headDepth) } : {}),
    ...(o.percentile !== undefined ? { percentile: Number(o.percentile) } : {}),
  };
  const out = resolve(o.out ?? int8PathFor(file.path));
  const t0 = performance.now();
  const r = await quantizeModel({
    modelBytes: file.bytes,
    baseModel: d.id,
    input: d.input,
    preprocess: d.preprocess,
    frames: calibration.frames,
    recipe,
    threads: o.threads === undefined ? 0 : Number(o.threads),
  });
  const seconds = (performance.now() - t0) / 1000;
  // Written beside the target and renamed into place: a reader never sees half a model.
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.partial`;
  writeFileSync(tmp, r.bytes);
  renameSync(tmp, out);
  const recipeFile = recipePathFor(out);
  const record = {
    file: basename(out),
    sha256: r.sha256,
    bytes: r.bytes.length,
    precision: "int8",
    baseModel: d.id,
    baseSha256: d.sha256,
    format: "QDQ: per-channel symmetric int8 weights, uint8 activations, int32 biases",
    recipe: r.recipe,
    floatConvs: r.floatConvs,
    quantizedConvs: r.quantizedConvs.length,
    quantizedOtherOps: r.quantizedOtherOps,
    calibration: { ...calibration.record(), frames: r.calibrationFrames },
    onnxruntime: ort.env.versions.common,
  };
  writeFileSync(recipeFile, `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(
    `quantized ${d.id} -> ${out} (${r.bytes.length} bytes, sha256 ${r.sha256}) in ${seconds.toFixed(1)} s\n` +
      `  ${r.quantizedConvs.length} Conv int8, ${r.floatConvs.length} float (${r.floatConvs.map((f) => `${f.name} ${f.why}`).join(", ")}); ` +
      `${r.quantizedOtherOps} other ops int8; ${r.calibrationFrames} calibration frames from ${calibration.from}\n` +
      `  recipe: ${recipeFile}\n`,
  );
  return 0;
}

interface Calibration {
  readonly frames: AsyncIterable<FramePixels>;
  /** Where the frames came from, for the command's output. */
  readonly from: string;
  /** What the recipe file says of them (read after the calibration). */
  record(): Record<string, string | number | boolean>;
}

function calibrateOnFolder(dir: string, count: number): Calibration {
  if (!existsSync(dir))
    throw new Error(`calibration folder not found: ${dir} (give one with --calibration DIR)`);
  const images = readdirSync(dir)
    .filter((f) => IMAGE.test(f))
    .sort()
    .slice(0, count)
    .map((f) => join(dir, f));
  const first = images[0];
  const last = images.at(-1);
  if (!first || !last) throw new Error(`no .jpg/.png images in ${dir}`);
  return {
    frames: imageFrames(images),
    from: dir,
    record: () => ({ folder: dir, first: basename(first), last: basename(last) }),
  };
}

function calibrateOnCamera(
  config: Config,
  d: NonNullable<ReturnType<typeof readModelFile>["descriptor"]>,
  count: number,
  every: string | undefined,
): Calibration {
  const everySec = Number(every ?? "1");
  if (!Number.isFinite(everySec) || everySec < 0)
    throw new Error(`--every must be a number of seconds, 0 or more, got ${every}`);
  const kind = sourceKind(config.camera);
  const target = modelCaptureTarget({ inputWidth: d.input.width, inputHeight: d.input.height }, d.preprocess);
  const redactor = Redactor.for(config);
  // a stream URL may hold a password, and its address is not for the output either
  const address =
    kind === "ffmpeg-stream" || kind === "mjpeg-http"
      ? [config.camera.source, redactor.text(config.camera.source)]
      : [];
  const clean = (text: string) =>
    address.reduce((t, a) => t.split(a).join(`the camera (${kind})`), redactor.text(text));
  return {
    frames: cameraFrames({ camera: config.camera, kind, target, count, everySec, clean }),
    // the camera's kind, never its address: a stream URL may hold a password
    from: `the device's camera (${kind}), one frame every ${everySec} s, held in memory only`,
    record: () => ({ camera: kind, everySec, inMemoryOnly: true }),
  };
}
