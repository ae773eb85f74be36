import sharp from "sharp";

/**
 * Width of the picture a JPEG frame's scene is checked on: about what the ffmpeg capture delivers for a
 * 640 model input, so that a blurred lens shows alike (at half that width a slight blur is lost). A 960x540 JPEG takes about 9 ms of libvips time for it
 * (measured on a loaded 2-core machine), beside the detector's own decoding of the frame.
 */
export const SMALL_PICTURE_WIDTH = 640;

/**
 * A JPEG frame as a small raw RGB picture for the scene check: libvips decodes it in its own thread
 * (JPEG shrink-on-load does most of the downscaling inside the decoder), not on the Node thread.
 * Undefined for an image that cannot be decoded (the detector counts it as corrupt).
 */
export async function smallPicture(
  encoded: Buffer,
): Promise<{ readonly data: Buffer; readonly width: number; readonly height: number } | undefined> {
  try {
    const { data, info } = await sharp(encoded, { failOn: "error" })
      .resize({ width: SMALL_PICTURE_WIDTH, kernel: "linear" })
      .removeAlpha()
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    return info.channels === 3 ? { data, width: info.width, height: info.height } : undefined;
  } catch {
    return undefined;
  }
}
