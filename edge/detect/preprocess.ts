import sharp from "sharp";
import type { FramePixels } from "../domain/types.ts";
import { inWholePixels, isWholeView, type ViewRect } from "../domain/view.ts";
import { computeGeometry, type InputGeometry, sameGeometry } from "./letterbox.ts";
import type { Preprocess } from "./model-descriptor.ts";

// Frames are never reused, and libvips' operation cache would keep decoded pixels alive in memory.
sharp.cache(false);

export class ImageDecodeError extends Error {
  override readonly name = "ImageDecodeError";
}

/**
 * Turns a frame into the model's NCHW float input. The only module that imports sharp.
 * One Float32Array is allocated per model and reused for every frame; the padding is written
 * only when the geometry changes.
 */
export class Preprocessor {
  /** The model input; while lent out (`lend`) it is detached and `prepare` refuses. */
  tensorData: Float32Array;
  private readonly mul: Float32Array;
  private readonly add: Float32Array;
  /** Source channel index feeding each model channel (RGB input -> model colour order). */
  private readonly sourceChannel: Uint8Array;
  private geometry: InputGeometry | undefined;

  constructor(
    readonly inputWidth: number,
    readonly inputHeight: number,
    private readonly spec: Preprocess,
  ) {
    this.tensorData = new Float32Array(3 * inputWidth * inputHeight);
    this.mul = new Float32Array(3);
    this.add = new Float32Array(3);
    this.sourceChannel = spec.colorOrder === "rgb" ? Uint8Array.of(0, 1, 2) : Uint8Array.of(2, 1, 0);
    for (let c = 0; c < 3; c++) {
      const src = this.sourceChannel[c]!;
      // value = (px * scale - mean) / std, folded into one multiply-add per pixel.
      this.mul[c] = spec.scale / spec.std[src as 0 | 1 | 2];
      this.add[c] = -spec.mean[src as 0 | 1 | 2] / spec.std[src as 0 | 1 | 2];
    }
  }

  /**
   * The input tensor's memory, for moving it to another thread (postMessage transfer). The content
   * (padding included) survives the round trip; `takeBack` makes it usable here again.
   */
  lend(): ArrayBuffer {
    return this.tensorData.buffer as ArrayBuffer;
  }

  takeBack(buffer: ArrayBuffer): void {
    this.tensorData = new Float32Array(buffer);
  }

  /**
   * Decodes, resizes and normalises into `tensorData`; returns the geometry for mapping boxes back.
   * `view` is the part of the scene to detect in: raw RGB frames come from a capture stage that
   * cropped them to it already; an encoded image shows the whole scene and is cropped here.
   */
  async prepare(pixels: FramePixels, view?: ViewRect): Promise<InputGeometry> {
    if (this.tensorData.length === 0) throw new Error("Preprocessor.prepare while its tensor is lent out");
    let srcWidth: number;
    let srcHeight: number;
    let extract: sharp.Region | undefined;
    let shows = view;
    if (pixels.kind === "rgb") {
      srcWidth = pixels.width;
      srcHeight = pixels.height;
      if (pixels.data.length < srcWidth * srcHeight * 3) {
        throw new ImageDecodeError(
          `raw RGB frame has ${pixels.data.length} bytes, expected ${srcWidth * srcHeight * 3} for ${srcWidth}x${srcHeight}`,
        );
      }
    } else {
      if (pixels.data.length === 0) throw new ImageDecodeError("empty image (0 bytes)");
      let meta: sharp.Metadata;
      try {
        meta = await sharp(pixels.data).metadata();
      } catch (err) {
        throw new ImageDecodeError(`not a decodable image: ${(err as Error).message}`);
      }
      if (!meta.width || !meta.height) throw new ImageDecodeError("image has no size");
      srcWidth = meta.width;
      srcHeight = meta.height;
      if (view && !isWholeView(view)) {
        const { view: cut, ...rect } = inWholePixels(view, srcWidth, srcHeight);
        extract = rect;
        shows = cut;
        srcWidth = rect.width;
        srcHeight = rect.height;
      } else shows = undefined;
    }
    const fitted = computeGeometry(
      srcWidth,
      srcHeight,
      this.inputWidth,
      this.inputHeight,
      this.spec.resize,
      this.spec.padPlacement,
    );
    const g = shows && !isWholeView(shows) ? { ...fitted, view: shows } : fitted;
    if (!sameGeometry(this.geometry, g)) {
      this.fillPadding();
      this.geometry = g;
    }
    let rgb: Buffer;
    if (pixels.kind === "rgb" && srcWidth === g.resizedWidth && srcHeight === g.resizedHeight) {
      // The capture stage already scaled the frame: no resize at all.
      rgb = pixels.data;
    } else {
      const input =
        pixels.kind === "rgb"
          ? sharp(pixels.data, { raw: { width: srcWidth, height: srcHeight, channels: 3 } })
          : sharp(pixels.data, { failOn: "error" });
      try {
        rgb = await (extract ? input.extract(extract) : input)
          .removeAlpha()
          .toColourspace("srgb")
          .resize(g.resizedWidth, g.resizedHeight, { fit: "fill", kernel: "linear" })
          .raw()
          .toBuffer();
      } catch (err) {
        throw new ImageDecodeError(`image could not be decoded: ${(err as Error).message}`);
      }
      if (rgb.length !== g.resizedWidth * g.resizedHeight * 3) {
        throw new ImageDecodeError(
          `decoder returned ${rgb.length} bytes, expected RGB ${g.resizedWidth}x${g.resizedHeight}`,
        );
      }
    }
    this.writeRegion(rgb, g);
    return g;
  }

  private fillPadding(): void {
    const plane = this.inputWidth * this.inputHeight;
    for (let c = 0; c < 3; c++) {
      this.tensorData.fill(this.spec.padValue * this.mul[c]! + this.add[c]!, c * plane, (c + 1) * plane);
    }
  }

  private writeRegion(rgb: Buffer, g: InputGeometry): void {
    const out = this.tensorData;
    const plane = this.inputWidth * this.inputHeight;
    const w = g.resizedWidth;
    for (let c = 0; c < 3; c++) {
      const src = this.sourceChannel[c]!;
      const mul = this.mul[c]!;
      const add = this.add[c]!;
      const base = c * plane;
      for (let y = 0; y < g.resizedHeight; y++) {
        let o = base + (y + g.padTop) * this.inputWidth + g.padLeft;
        let i = y * w * 3 + src;
        for (let x = 0; x < w; x++, o++, i += 3) out[o] = rgb[i]! * mul + add;
      }
    }
  }
}

/** Width and height of an encoded image, from its header. */
export async function encodedImageSize(data: Buffer): Promise<{ width: number; height: number }> {
  try {
    const meta = await sharp(data).metadata();
    if (meta.width && meta.height) return { width: meta.width, height: meta.height };
  } catch (err) {
    throw new ImageDecodeError(`not a decodable image: ${(err as Error).message}`);
  }
  throw new ImageDecodeError("image has no size");
}
