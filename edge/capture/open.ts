import { existsSync, statSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import type { ViewRect } from "../domain/view.ts";
import { FolderSource, MjpegHttpSource, RpicamSource } from "./encoded-sources.ts";
import { CaptureError, probeVideo, requireBinary } from "./ffmpeg.ts";
import { FfmpegSource } from "./ffmpeg-source.ts";
import type { FrameSource, SourceState } from "./source.ts";
import { SupervisedSource } from "./supervisor.ts";

export type SourceKind = "ffmpeg-stream" | "ffmpeg-file" | "v4l2" | "mjpeg-http" | "rpicam" | "folder";

export function sourceKind(camera: Config["camera"]): SourceKind {
  const s = camera.source;
  const isDir = existsSync(s) && statSync(s).isDirectory();
  switch (camera.kind) {
    case "mjpeg-http":
      return "mjpeg-http";
    case "rpicam":
      return "rpicam";
    case "folder":
      return "folder";
    case "ffmpeg":
      return /^[a-z][a-z0-9+.-]*:\/\//i.test(s)
        ? "ffmpeg-stream"
        : s.startsWith("/dev/video")
          ? "v4l2"
          : "ffmpeg-file";
    default:
      if (s === "rpicam" || s === "libcamera") return "rpicam";
      if (/^https?:\/\//i.test(s)) return "mjpeg-http";
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) return "ffmpeg-stream";
      if (s.startsWith("/dev/video")) return "v4l2";
      return isDir ? "folder" : "ffmpeg-file";
  }
}

export interface CaptureTarget {
  /** The detector's input box; raw frames are scaled to fit it so the detector does not resize. */
  readonly width: number;
  readonly height: number;
  readonly stretch: boolean;
}

/** Sources whose frames are cropped to the detection region while capturing (ffmpeg's `crop`). */
export function cropsWhileCapturing(kind: SourceKind): boolean {
  return kind === "ffmpeg-stream" || kind === "ffmpeg-file" || kind === "v4l2";
}

/**
 * The picture's width / height before its first frame, where the source can tell it: a file or a
 * stream is probed (within `camera.stallTimeoutSec`; a probe that fails throws). Undefined for the
 * other sources: a USB camera's or a JPEG source's shape comes with its first frame.
 */
export async function pictureAspect(
  camera: Pick<Config["camera"], "source" | "stallTimeoutSec">,
  kind: SourceKind,
): Promise<number | undefined> {
  if (kind !== "ffmpeg-file" && kind !== "ffmpeg-stream") return undefined;
  const { width, height } = await probeVideo(
    camera.source,
    kind === "ffmpeg-stream",
    camera.stallTimeoutSec * 1000,
  );
  return width / height;
}

/**
 * Opens the configured camera behind a supervisor that restarts it. Fails at once, with a hint,
 * when something the source needs is missing (ffmpeg, the file, the folder). `view` is read at
 * every (re)start of an ffmpeg source: the part of the view to crop to before scaling.
 */
export function openCamera(
  camera: Config["camera"],
  target: CaptureTarget,
  onStateChange?: (s: SourceState) => void,
  view?: () => ViewRect,
): { source: SupervisedSource; kind: SourceKind; replay: boolean } {
  const kind = sourceKind(camera);
  const replay =
    camera.mode === "replay" || (camera.mode === "auto" && (kind === "ffmpeg-file" || kind === "folder"));
  if (kind === "ffmpeg-file" && !existsSync(camera.source)) {
    throw new CaptureError(`camera.source: file ${camera.source} does not exist`);
  }
  if (kind === "ffmpeg-stream" || kind === "ffmpeg-file" || kind === "v4l2") requireBinary("ffmpeg");
  const startMs = Date.now();
  const factory = (): FrameSource => {
    switch (kind) {
      case "mjpeg-http":
        return new MjpegHttpSource(camera.source);
      case "rpicam":
        return new RpicamSource({
          width: camera.captureWidth,
          height: camera.captureHeight,
          fps: camera.fps,
        });
      case "folder":
        return new FolderSource(camera.source, {
          fps: camera.replayFps ?? camera.fps,
          startMs,
          paced: !replay,
        });
      default:
        return new FfmpegSource({
          input: camera.source,
          inputKind: kind === "v4l2" ? "v4l2" : kind === "ffmpeg-stream" ? "stream" : "file",
          mode: replay ? "replay" : "live",
          fps: camera.fps,
          replayFps: camera.replayFps,
          width: target.width,
          height: target.height,
          stretch: target.stretch,
          view: view?.(),
          replayStartMs: startMs,
        });
    }
  };
  const source = new SupervisedSource(factory, {
    stallTimeoutSec: camera.stallTimeoutSec,
    backoffMinMs: camera.reconnectMinSec * 1000,
    backoffMaxMs: camera.reconnectMaxSec * 1000,
    restartOnEnd: !replay,
    ...(onStateChange ? { onStateChange } : {}),
  });
  return { source, kind, replay };
}
