/** Values that flow between pipeline stages. Time is epoch milliseconds unless a name says otherwise. */

/** An axis-aligned box in source-image pixels, top-left origin. */
export interface Box {
  readonly x1: number;
  readonly y1: number;
  readonly x2: number;
  readonly y2: number;
}

/** A camera frame as it leaves the capture stage: either an encoded image or raw interleaved RGB. */
export type FramePixels =
  | { readonly kind: "encoded"; readonly data: Buffer }
  | { readonly kind: "rgb"; readonly data: Buffer; readonly width: number; readonly height: number };

export interface Frame {
  /** Monotonically increasing per source. */
  readonly seq: number;
  /** Wall-clock capture time (epoch ms). */
  readonly tsMs: number;
  /** Monotonic capture time (ms), immune to clock steps. */
  readonly monoMs: number;
  /** Size of the scene the frame shows, in the pixels that box coordinates refer to. */
  readonly width: number;
  readonly height: number;
  readonly pixels: FramePixels;
}

/** One object found in one frame, after thresholding and NMS, in source-image pixels. */
export interface Detection {
  /** Class index in the model's label list (COCO ids for the bundled models). */
  readonly classId: number;
  readonly label: string;
  readonly score: number;
  readonly box: Box;
}
