import type { ModelConfig } from "../config/schema.ts";
import type { Detector, DetectorOptions } from "./detector.ts";
import { OnnxDetector } from "./onnx-detector.ts";
import { WorkerDetector } from "./worker-detector.ts";

/** The one place the configuration's `model` section becomes detector options. */
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

/** Loads the configured model, in a worker thread (`model.inference: worker`) or on this thread. */
export function loadDetector(model: ModelConfig, warn?: (message: string) => void): Promise<Detector> {
  const options = detectorOptionsFrom(model, warn);
  return model.inference === "worker" ? WorkerDetector.load(options) : OnnxDetector.load(options);
}
