import type { ViewRect } from "../domain/view.ts";
import type { CaptureTarget, Size } from "./detector.ts";
import type { Preprocess } from "./model-descriptor.ts";

/** Where the source image lands inside the model input, and how to map boxes back. */
export interface InputGeometry {
  readonly srcWidth: number;
  readonly srcHeight: number;
  /** Size of the resized image inside the model input (excluding padding). */
  readonly resizedWidth: number;
  readonly resizedHeight: number;
  readonly padLeft: number;
  readonly padTop: number;
  /** resized / source, per axis: exact for the integer sizes sharp produces. */
  readonly scaleX: number;
  readonly scaleY: number;
  /** The part of the scene the source image shows (a region of the view); absent: all of it. */
  readonly view?: ViewRect | undefined;
}

export function computeGeometry(
  srcWidth: number,
  srcHeight: number,
  inputWidth: number,
  inputHeight: number,
  resize: Preprocess["resize"],
  padPlacement: Preprocess["padPlacement"],
): InputGeometry {
  if (!(srcWidth > 0 && srcHeight > 0)) throw new Error(`invalid image size ${srcWidth}x${srcHeight}`);
  if (resize === "stretch") {
    return {
      srcWidth,
      srcHeight,
      resizedWidth: inputWidth,
      resizedHeight: inputHeight,
      padLeft: 0,
      padTop: 0,
      scaleX: inputWidth / srcWidth,
      scaleY: inputHeight / srcHeight,
    };
  }
  const s = Math.min(inputWidth / srcWidth, inputHeight / srcHeight);
  const resizedWidth = Math.min(inputWidth, Math.max(1, Math.round(srcWidth * s)));
  const resizedHeight = Math.min(inputHeight, Math.max(1, Math.round(srcHeight * s)));
  const center = padPlacement === "center";
  return {
    srcWidth,
    srcHeight,
    resizedWidth,
    resizedHeight,
    padLeft: center ? Math.floor((inputWidth - resizedWidth) / 2) : 0,
    padTop: center ? Math.floor((inputHeight - resizedHeight) / 2) : 0,
    scaleX: resizedWidth / srcWidth,
    scaleY: resizedHeight / srcHeight,
  };
}

export function sameGeometry(a: InputGeometry | undefined, b: InputGeometry): boolean {
  return (
    a !== undefined &&
    a.srcWidth === b.srcWidth &&
    a.srcHeight === b.srcHeight &&
    a.resizedWidth === b.resizedWidth &&
    a.resizedHeight === b.resizedHeight &&
    a.padLeft === b.padLeft &&
    a.padTop === b.padTop
  );
}

/** Model-input x to source-image x, clamped to the image. */
export function toSourceX(g: InputGeometry, x: number): number {
  return Math.min(g.srcWidth, Math.max(0, (x - g.padLeft) / g.scaleX));
}

export function toSourceY(g: InputGeometry, y: number): number {
  return Math.min(g.srcHeight, Math.max(0, (y - g.padTop) / g.scaleY));
}

/** Source-image x to model-input x (used by tests and evaluation). */
export function toInputX(g: InputGeometry, x: number): number {
  return x * g.scaleX + g.padLeft;
}

export function toInputY(g: InputGeometry, y: number): number {
  return y * g.scaleY + g.padTop;
}

/**
 * The frame size at which the model sees a `width` x `height` scene without further resizing: a
 * capture stage that delivers raw RGB at this size spares the detector all decoding and scaling.
 */
export function modelFrameSize(
  info: { readonly inputWidth: number; readonly inputHeight: number },
  preprocess: Preprocess,
  width: number,
  height: number,
): Size {
  const g = computeGeometry(
    width,
    height,
    info.inputWidth,
    info.inputHeight,
    preprocess.resize,
    preprocess.padPlacement,
  );
  return { width: g.resizedWidth, height: g.resizedHeight };
}

/** The box raw frames should be scaled into, so that preparing them needs no resize at all. */
export function modelCaptureTarget(
  info: { readonly inputWidth: number; readonly inputHeight: number },
  preprocess: Preprocess,
): CaptureTarget {
  return { width: info.inputWidth, height: info.inputHeight, stretch: preprocess.resize === "stretch" };
}
