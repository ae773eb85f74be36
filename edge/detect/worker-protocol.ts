import type { DetectorInfo, DetectorOptions } from "./detector.ts";
import type { Preprocess } from "./model-descriptor.ts";
import type { DecoderSetup } from "./output-decoder.ts";

/** Messages between `WorkerDetector` (Node thread) and `inference-worker.ts`. */

export type WorkerInit = Omit<DetectorOptions, "warn">;

/**
 * One prepared input tensor and the buffers its outputs are to be written into, all moved (not
 * copied) to the worker and back.
 */
export interface RunRequest {
  readonly type: "run";
  readonly slot: number;
  readonly input: ArrayBuffer;
  readonly outputs: ArrayBuffer[];
}

export type ToWorker = RunRequest | { readonly type: "release" };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
}

export type FromWorker =
  | { readonly type: "warn"; readonly message: string }
  | {
      readonly type: "ready";
      readonly info: DetectorInfo;
      readonly preprocess: Preprocess;
      readonly decoder: DecoderSetup;
    }
  | { readonly type: "load-failed"; readonly error: SerializedError }
  | {
      readonly type: "ran";
      readonly slot: number;
      readonly input: ArrayBuffer;
      readonly outputs: { readonly dims: readonly number[]; readonly buffer: ArrayBuffer }[];
      readonly inferenceMs: number;
    }
  | {
      readonly type: "run-failed";
      readonly slot: number;
      readonly input: ArrayBuffer;
      readonly outputs: ArrayBuffer[];
      readonly error: SerializedError;
    }
  | { readonly type: "released" };
