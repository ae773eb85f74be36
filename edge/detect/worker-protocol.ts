import type { Detection } from "../domain/types.ts";
import type { DetectorInfo, DetectorOptions, DetectTimings, Size } from "./detector.ts";
import type { Preprocess } from "./model-descriptor.ts";

/** Messages between `WorkerDetector` (Node thread) and `inference-worker.ts`. */

export type WorkerInit = Omit<DetectorOptions, "warn">;

/** A frame in a pool buffer, moved (not copied) to the worker and back. */
export interface DetectRequest {
  readonly type: "detect";
  readonly buffer: ArrayBuffer;
  readonly byteLength: number;
  readonly pixels:
    | { readonly kind: "encoded" }
    | { readonly kind: "rgb"; readonly width: number; readonly height: number };
  readonly scene: Size | undefined;
}

export type ToWorker = DetectRequest | { readonly type: "release" };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
}

export type FromWorker =
  | { readonly type: "warn"; readonly message: string }
  | { readonly type: "ready"; readonly info: DetectorInfo; readonly preprocess: Preprocess }
  | { readonly type: "load-failed"; readonly error: SerializedError }
  | {
      readonly type: "detected";
      readonly detections: Detection[];
      readonly timings: DetectTimings;
      readonly buffer: ArrayBuffer;
    }
  | { readonly type: "detect-failed"; readonly error: SerializedError; readonly buffer: ArrayBuffer }
  | { readonly type: "released" };
