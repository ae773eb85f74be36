import type { Detection, FramePixels } from "../domain/types.ts";
import type { ViewRect } from "../domain/view.ts";
import type { OutputLayout } from "./model-descriptor.ts";

export type GraphOptimization = "disabled" | "basic" | "extended" | "all";
export type Precision = "float32" | "int8";
export type PrecisionSetting = Precision | "auto";

/** Which variant of the model runs, as `model.precision` asked, and why (log, status, `/api/status`). */
export interface PrecisionReport {
  readonly setting: PrecisionSetting;
  readonly running: Precision;
  readonly reason: string;
}
export type ExecutionProviderName = "cpu" | "cuda" | "tensorrt";

export interface DetectorOptions {
  /** Manifest id or path to an .onnx file. */
  readonly model: string;
  readonly modelDir: string;
  /** Intra-op threads; 0 lets ONNX Runtime choose (one per core). */
  readonly threads: number;
  readonly graphOptimization: GraphOptimization;
  readonly executionProviders: readonly ExecutionProviderName[];
  readonly confidence: number;
  readonly iou: number;
  /** Class names kept; everything else is dropped before NMS. */
  readonly classes: readonly string[];
  readonly maxDetections: number;
  /** How the variant loaded was chosen (`model.precision`); copied into `DetectorInfo.precision`. */
  readonly precision?: PrecisionReport;
  readonly warn?: (message: string) => void;
}

export interface DetectorInfo {
  readonly id: string;
  readonly path: string;
  readonly license: string;
  readonly layout: OutputLayout;
  readonly inputName: string;
  readonly inputWidth: number;
  readonly inputHeight: number;
  readonly labels: readonly string[];
  readonly executionProviders: readonly string[];
  /** Where the preprocessing and labels came from. */
  readonly configuredFrom: "manifest" | "ultralytics-metadata" | "defaults";
  /** Where inference runs: on the Node thread, or in a worker thread beside it. */
  readonly runsIn: "main-thread" | "worker";
  /** Set when the variant was chosen by `model.precision`. */
  readonly precision?: PrecisionReport;
}

/** Milliseconds spent in each part of the last `detect` call. */
export interface DetectTimings {
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
}

export interface Size {
  readonly width: number;
  readonly height: number;
}

/** The size raw frames should be scaled to so that preparing them needs no resize at all. */
export interface CaptureTarget extends Size {
  readonly stretch: boolean;
}

/** A frame handed to the detector: its pixels are consumed, its detections are on their way. */
export interface Submitted {
  readonly detections: Promise<Detection[]>;
}

/**
 * What the rest of the counter sees of a detector: pixels in, detections in scene pixels out.
 * `detect` is one frame at a time. `submit` lets a frame loop overlap frames: it resolves once the
 * pixels are consumed (the frame's buffer may be reused), and up to `maxInFlight` frames may be
 * submitted before the first one's detections are awaited; detections arrive in submission order.
 */
export interface Detector {
  readonly info: DetectorInfo;
  /** Timings of the frame whose detections arrived last. */
  readonly lastTimings: DetectTimings;
  readonly maxInFlight: number;
  submit(pixels: FramePixels, scene?: Size, view?: ViewRect): Promise<Submitted>;
  /**
   * Detections in source-image pixels, best score first. When the pixels are a scaled copy of the
   * scene (raw frames that the capture stage already shrank), `scene` gives the size boxes refer to.
   * `view` is the part of the scene to detect in (`camera.region`): raw RGB frames show exactly it
   * (the capture stage cropped them); an encoded image shows the whole scene and is cropped to it
   * before scaling. Boxes are in scene pixels either way.
   */
  detect(pixels: FramePixels, scene?: Size, view?: ViewRect): Promise<Detection[]>;
  /** The frame size at which the model sees a `width` x `height` scene without further resizing. */
  frameSizeFor(width: number, height: number): Size;
  captureTarget(): CaptureTarget;
  release(): Promise<void>;
}
