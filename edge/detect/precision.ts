import "./ort-privacy.ts"; // before onnxruntime-node: switches its telemetry off
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import ort from "onnxruntime-node";
import type { DetectorOptions, Precision, PrecisionReport, PrecisionSetting } from "./detector.ts";
import { findModel } from "./model-descriptor.ts";
import { readModelFile, sha256 } from "./model-file.ts";
import { OnnxDetector } from "./onnx-detector.ts";
import { sessionThreading } from "./ort-threads.ts";

export type { Precision, PrecisionSetting };

/** How long `model.precision: auto` times the two variants at start (when nothing is remembered). */
export const AUTO_TIMING_SECONDS = 6;

/** int8 is chosen only when it is at least this much faster than float32 (ratio of ms per frame). */
export const INT8_MIN_GAIN = 0.1;

/** Where the int8 variant of a float model file goes: beside it, `<stem>.int8.onnx`. */
export function int8PathFor(floatPath: string): string {
  return join(dirname(floatPath), `${basename(floatPath).replace(/\.onnx$/i, "")}.int8.onnx`);
}

/** The float and int8 files a `model.id` names (the int8 one may not exist). */
export function modelVariants(id: string, modelDir: string): { float32: string; int8: string } {
  const d = findModel(id);
  const floatPath = d ? resolve(join(modelDir, d.file)) : resolve(id);
  return { float32: floatPath, int8: int8PathFor(floatPath) };
}

export interface InferenceTiming {
  readonly model: string;
  readonly path: string;
  readonly sha256: string;
  /** Median of the timed runs. */
  readonly msPerFrame: number;
  readonly runs: number;
}

const ComparisonSchema = Type.Object({
  cpu: Type.String(),
  onnxruntime: Type.String(),
  /** ONNX Runtime's threads per inference as resolved on the device (model.threads 0: one per core). */
  threads: Type.Integer({ minimum: 1 }),
  float32: Type.Object({
    model: Type.String(),
    path: Type.String(),
    sha256: Type.String(),
    msPerFrame: Type.Number(),
    runs: Type.Integer(),
  }),
  int8: Type.Object({
    model: Type.String(),
    path: Type.String(),
    sha256: Type.String(),
    msPerFrame: Type.Number(),
    runs: Type.Integer(),
  }),
  /** float32 ms per frame / int8 ms per frame: above 1, int8 is faster. */
  speedup: Type.Number(),
  choice: Type.Union([Type.Literal("float32"), Type.Literal("int8")]),
  measuredAt: Type.String(),
});
export type PrecisionComparison = Static<typeof ComparisonSchema>;

export function cpuModel(): string {
  return cpus()[0]?.model.trim() || "unknown";
}

/**
 * Times both variants on this device: alternating rounds, so that other load on the machine
 * falls on both alike; each variant runs on a real frame's tensor (the warm-up's).
 */
export async function comparePrecisions(
  options: DetectorOptions,
  paths: { float32: string; int8: string },
  seconds: number,
): Promise<PrecisionComparison> {
  const load = (path: string) => OnnxDetector.load({ ...options, model: path });
  const floatDetector = await load(paths.float32);
  const int8Detector = await load(paths.int8);
  const times: [number[], number[]] = [[], []];
  try {
    const rounds = 4;
    const slice = (seconds * 1000) / (2 * rounds);
    for (let r = 0; r < rounds; r++) {
      for (const [k, d] of [floatDetector, int8Detector].entries()) {
        await d.runModelOnly(); // the first run after the other model's: caches refilled, not timed
        const end = performance.now() + slice;
        while (performance.now() < end) {
          const t0 = performance.now();
          await d.runModelOnly();
          times[k]!.push(performance.now() - t0);
        }
      }
    }
  } finally {
    await floatDetector.release();
    await int8Detector.release();
  }
  const timing = (d: OnnxDetector, ms: number[]): InferenceTiming => ({
    model: d.info.id,
    path: d.info.path,
    sha256: sha256(readFileSync(d.info.path)),
    msPerFrame: Math.round(median(ms) * 100) / 100,
    runs: ms.length,
  });
  const f = timing(floatDetector, times[0]);
  const i = timing(int8Detector, times[1]);
  return {
    cpu: cpuModel(),
    onnxruntime: ort.env.versions.common,
    threads: sessionThreading(options.threads).intraOpNumThreads,
    float32: f,
    int8: i,
    speedup: Math.round((f.msPerFrame / i.msPerFrame) * 1000) / 1000,
    choice: i.msPerFrame <= f.msPerFrame * (1 - INT8_MIN_GAIN) ? "int8" : "float32",
    measuredAt: new Date().toISOString(),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The remembered comparison, beside the int8 model: `<stem>.int8.precision.json`. */
export function choiceCachePath(int8Path: string): string {
  return int8Path.replace(/\.onnx$/i, "") + ".precision.json";
}

/** What the counter runs and why: reported in the log, the status message and `/api/status`. */
export interface PrecisionChoice {
  /** The model reference to load: the manifest id or file for float32, the int8 file's path for int8. */
  readonly setting: PrecisionSetting;
  readonly precision: Precision;
  /** The file or manifest id loaded. */
  readonly model: string;
  readonly reason: string;
  readonly comparison: PrecisionComparison | null;
}

export function precisionReport(c: PrecisionChoice): PrecisionReport {
  return { setting: c.setting, running: c.precision, reason: c.reason };
}

/**
 * Resolves `model.precision`. `auto` with both variants present uses the remembered comparison if it
 * was made on this CPU, ONNX Runtime version, thread count and these two files; otherwise it
 * measures for `seconds` and remembers the result (a model folder that cannot be written only costs
 * a measurement at the next start).
 */
export async function choosePrecision(
  setting: PrecisionSetting,
  options: DetectorOptions,
  seconds: number,
  warn: (message: string) => void = () => {},
): Promise<PrecisionChoice> {
  const file = readModelFile(options.model, options.modelDir);
  if (file.quantizedFrom) {
    return {
      setting,
      precision: "int8",
      model: options.model,
      reason: "model.id names an int8 file",
      comparison: null,
    };
  }
  const paths = modelVariants(options.model, options.modelDir);
  const hint = `make it with: counter model quantize ${options.model} --model-dir ${options.modelDir}`;
  if (setting === "float32") {
    return {
      setting,
      precision: "float32",
      model: options.model,
      reason: "model.precision: float32",
      comparison: null,
    };
  }
  if (!existsSync(paths.int8)) {
    if (setting === "int8")
      throw new Error(`model.precision is int8 but ${paths.int8} does not exist; ${hint}`);
    return {
      setting,
      precision: "float32",
      model: options.model,
      reason: `no int8 variant (${paths.int8}); ${hint}`,
      comparison: null,
    };
  }
  if (setting === "int8") {
    return {
      setting,
      precision: "int8",
      model: paths.int8,
      reason: "model.precision: int8",
      comparison: null,
    };
  }
  const cachePath = choiceCachePath(paths.int8);
  const floatSha = sha256(file.bytes);
  const int8Sha = sha256(readFileSync(paths.int8));
  let comparison = readCache(cachePath);
  const fits =
    comparison &&
    comparison.cpu === cpuModel() &&
    comparison.onnxruntime === ort.env.versions.common &&
    // the resolved count: "one per core" measured on a resized VM is another measurement
    comparison.threads === sessionThreading(options.threads).intraOpNumThreads &&
    comparison.float32.sha256 === floatSha &&
    comparison.int8.sha256 === int8Sha;
  if (!fits) {
    comparison = await comparePrecisions(options, paths, seconds);
    try {
      const tmp = `${cachePath}.partial`;
      writeFileSync(tmp, `${JSON.stringify(comparison, null, 2)}\n`);
      renameSync(tmp, cachePath);
    } catch (err) {
      warn(`could not remember the precision choice in ${cachePath}: ${(err as Error).message}`);
    }
  }
  const c = comparison as PrecisionComparison;
  const how = fits ? `measured ${c.measuredAt}` : "measured now";
  const reason =
    `${how} on ${c.cpu}, ${c.threads} threads: int8 ${c.int8.msPerFrame} ms, float32 ${c.float32.msPerFrame} ms per frame ` +
    `(${c.speedup}x); int8 is chosen only when at least ${INT8_MIN_GAIN * 100} % faster`;
  return {
    setting,
    precision: c.choice,
    model: c.choice === "int8" ? paths.int8 : options.model,
    reason,
    comparison: c,
  };
}

function readCache(path: string): PrecisionComparison | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const raw: unknown = JSON.parse(readFileSync(path, "utf8"));
    return Value.Check(ComparisonSchema, raw) ? raw : undefined;
  } catch {
    return undefined; // unreadable: measured again and rewritten
  }
}
