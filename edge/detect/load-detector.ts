import type { ModelConfig } from "../config/schema.ts";
import type { Detector, DetectorOptions } from "./detector.ts";
import { OnnxDetector } from "./onnx-detector.ts";
import { AUTO_TIMING_SECONDS, choosePrecision, precisionReport } from "./precision.ts";
import { WorkerDetector } from "./worker-detector.ts";

/** The one place the configuration's `model` section becomes detector options (of the configured variant). */
export function detectorOptionsFrom(model: ModelConfig, warn?: (message: string) => void): DetectorOptions {
  return {
    model: model.id,
    modelDir: model.dir,
    threads: model.threads,
    graphOptimization: model.graphOptimization,
    executionProviders: model.executionProviders,
    confidence: model.confidence,
    iou: model.iou,
    classes: model.classes,
    maxDetections: model.maxDetections,
    warn,
  };
}

/**
 * Loads the configured model, in a worker thread (`model.inference: worker`) or on this thread: its
 * float32 or int8 variant as `model.precision` says (`auto`: the one measured faster on this device).
 */
export async function loadDetector(model: ModelConfig, warn?: (message: string) => void): Promise<Detector> {
  const configured = detectorOptionsFrom(model, warn);
  const choice = await choosePrecision(model.precision, configured, AUTO_TIMING_SECONDS, warn);
  const options = { ...configured, model: choice.model, precision: precisionReport(choice) };
  return model.inference === "worker" ? WorkerDetector.load(options) : OnnxDetector.load(options);
}
