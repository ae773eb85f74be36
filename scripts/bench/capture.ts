import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { DATA_DIR, petsClipH264 } from "./inputs.ts";
import type { BenchOptions } from "./options.ts";
import { median, msColumn } from "./stats.ts";

const CLIP_FRAMES = 140;

/** CPU milliseconds (user + sys) of one ffmpeg run with `ffmpegArgs`, its output thrown away. */
function ffmpegCpuMs(ffmpegArgs: string[]): number {
  const r = spawnSync(
    "bash",
    ["-c", `TIMEFORMAT='%U %S'; { time ffmpeg ${ffmpegArgs.join(" ")} > /dev/null 2>/dev/null ; } 2>&1`],
    { encoding: "utf8" },
  );
  const [user, sys] = r.stdout.trim().split(/\s+/).slice(-2).map(Number);
  return (user! + sys!) * 1000;
}

/**
 * Capture cost per frame: ffmpeg decoding H.264 and writing either raw RGB scaled to the detector's
 * input (what the capture stage does) or MJPEG at camera size (what a JPEG path would hand over),
 * plus, for MJPEG, the detector-side decode + resize that raw frames do not need.
 */
export async function benchCapture(_options: BenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-cap-"));
  console.log(
    `\n## capture: CPU ms per frame (ffmpeg user+sys, one decoding thread), ${CLIP_FRAMES} frames of the PETS clip`,
  );
  console.log(
    `${"input".padEnd(7)} ${"raw rgb 416 (ffmpeg)".padStart(22)} ${"mjpeg (ffmpeg)".padStart(15)} ${"+ jpeg decode (sharp)".padStart(22)} ${"mjpeg total".padStart(12)}`,
  );
  for (const [w, h] of [
    [1280, 720],
    [1920, 1080],
  ] as const) {
    const clip = petsClipH264(join(dir, `c${h}.mp4`), w, h, ["-frames:v", String(CLIP_FRAMES)]);
    const decode = ["-v", "error", "-threads", "1", "-i", clip, "-an"];
    const rawMs =
      ffmpegCpuMs([
        ...decode,
        "-vf",
        "scale=416:416:force_original_aspect_ratio=decrease",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
      ]) / CLIP_FRAMES;
    const mjpegMs = ffmpegCpuMs([...decode, "-f", "mjpeg", "-q:v", "5", "-"]) / CLIP_FRAMES;
    const jpeg = await sharp(readFileSync(`${DATA_DIR}/images/street.jpg`))
      .resize(w, h, { fit: "cover" })
      .jpeg({ quality: 85 })
      .toBuffer();
    const jpegDecodeMs: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t = performance.now();
      await sharp(jpeg).resize(416, 234, { fit: "fill", kernel: "linear" }).raw().toBuffer();
      jpegDecodeMs.push(performance.now() - t);
    }
    const decodeMs = median(jpegDecodeMs);
    console.log(
      `${`${h}p`.padEnd(7)} ${msColumn(rawMs, 22)} ${msColumn(mjpegMs, 15)} ${msColumn(decodeMs, 22)} ${msColumn(mjpegMs + decodeMs, 12)}`,
    );
  }
}
