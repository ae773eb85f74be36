import { spawn, spawnSync } from "node:child_process";
import { Redactor, secretsIn } from "../domain/redact.ts";
import { inWholePixels, isWholeView, type ViewRect } from "../domain/view.ts";

export class CaptureError extends Error {
  override readonly name = "CaptureError";
  constructor(
    message: string,
    /** Frames the source delivered before it failed (replays report how far they got). */
    readonly framesRead?: number,
  ) {
    super(message);
  }
}

const INSTALL_HINT =
  "install it: `sudo apt-get install ffmpeg` (Debian, Ubuntu, Raspberry Pi OS) or see https://ffmpeg.org/download.html";

/** Fails with an install hint when a binary (ffmpeg, ffprobe) is missing. */
export function requireBinary(name: "ffmpeg" | "ffprobe"): void {
  const r = spawnSync(name, ["-version"], { stdio: "ignore" });
  if (r.error) throw new CaptureError(`${name} was not found on PATH; ${INSTALL_HINT}`);
}

export interface VideoInfo {
  readonly width: number;
  readonly height: number;
  /** The container's frame rate (may be wrong for old files; replay can override it). */
  readonly fps: number;
}

function probeResult(input: string, status: number | null, stdout: string, stderr: string): VideoInfo {
  const [w, h, rate] = stdout.trim().split(",");
  const [num, den] = (rate ?? "").split("/").map(Number);
  const width = Number(w);
  const height = Number(h);
  if (status !== 0 || !(width > 0) || !(height > 0)) {
    // ffprobe repeats the input URL, credentials and all
    throw new CaptureError(
      new Redactor(secretsIn(input)).text(
        `cannot read video ${input}: ${stderr.trim().split("\n")[0] || "no video stream"}`,
      ),
    );
  }
  return { width, height, fps: num && den ? num / den : 0 };
}

/**
 * The picture size of a file or a camera stream (RTSP, HTTP), without blocking the Node thread; a
 * stream that says nothing within `timeoutMs` is an error.
 */
export function probeVideo(input: string, stream: boolean, timeoutMs: number): Promise<VideoInfo> {
  requireBinary("ffprobe");
  const args = ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height,r_frame_rate"];
  if (stream && /^rtsps?:/i.test(input)) args.push("-rtsp_transport", "tcp");
  args.push("-of", "csv=p=0", input);
  return new Promise((resolve, reject) => {
    const child = spawn("ffprobe", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    const timer = setTimeout(() => {
      stderr = `no answer within ${Math.round(timeoutMs / 1000)} s`;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new CaptureError(`cannot start ffprobe: ${err.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      try {
        resolve(probeResult(input, code, stdout, stderr));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/**
 * Decodes a video file with ffmpeg into raw RGB frames of `width` x `height` (ffmpeg scales),
 * every frame in order. The yielded buffer is reused: it is valid until the next frame is requested.
 */
export async function* decodeVideoFrames(
  path: string,
  width: number,
  height: number,
  signal?: AbortSignal,
  /** Only this part of the view, cropped before scaling to `width` x `height`. */
  view?: ViewRect,
): AsyncGenerator<Buffer> {
  requireBinary("ffmpeg");
  const child = spawn(
    "ffmpeg",
    [
      "-nostdin",
      "-v",
      "error",
      "-i",
      path,
      "-vf",
      `${isWholeView(view) ? "" : `${cropFilter(view!)},`}scale=${width}:${height}:flags=bilinear`,
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      "pipe:1",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    if (stderr.length < 4000) stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const onAbort = () => child.kill("SIGTERM");
  signal?.addEventListener("abort", onAbort, { once: true });
  const frameBytes = width * height * 3;
  const buffers = [Buffer.allocUnsafe(frameBytes), Buffer.allocUnsafe(frameBytes)];
  let current = 0;
  let filled = 0;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - offset);
        chunk.copy(buffers[current]!, filled, offset, offset + n);
        filled += n;
        offset += n;
        if (filled === frameBytes) {
          yield buffers[current]!;
          current ^= 1;
          filled = 0;
        }
      }
    }
    const code = await exited;
    if (code !== 0 && !signal?.aborted) {
      throw new CaptureError(
        `ffmpeg failed on ${path} (exit ${code}): ${stderr.trim().split("\n").slice(-2).join(" ")}`,
      );
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (child.exitCode === null) child.kill("SIGTERM");
  }
}

export interface FfmpegSourceOptions {
  /** URL, file path or /dev/videoN. */
  readonly input: string;
  readonly inputKind: "stream" | "file" | "v4l2";
  /** live: newest frame wins, paced at `fps`; replay: every frame in order, as fast as consumed. */
  readonly mode: "live" | "replay";
  /** Frames per second to analyse (live). */
  readonly fps: number;
  /** Timestamps in replay: frames per second of the recording (default: what the file says). */
  readonly replayFps?: number | undefined;
  /** Output box: frames are scaled to fit inside it (keeping the aspect ratio unless `stretch`). */
  readonly width: number;
  readonly height: number;
  readonly stretch: boolean;
  /** The part of the view to deliver (cropped before scaling); default the whole view. */
  readonly view?: ViewRect | undefined;
  /** Wall-clock start of a replay's timeline (default: now). */
  readonly replayStartMs?: number | undefined;
}

/** Builds the ffmpeg command line for a source. Raw RGB out, already at the detector's input size. */
export function ffmpegArgs(o: FfmpegSourceOptions): string[] {
  const args = ["-hide_banner", "-nostdin", "-nostats", "-v", "info"];
  if (o.inputKind === "stream" && /^rtsps?:/i.test(o.input))
    args.push("-rtsp_transport", "tcp", "-timeout", "10000000");
  if (o.inputKind === "v4l2") args.push("-f", "v4l2", "-framerate", String(o.fps));
  if (o.inputKind === "file" && o.mode === "live") args.push("-re");
  // one decoding thread: the cores belong to the detector (measured in docs/performance.md)
  args.push("-threads", "1", "-i", o.input, "-an", "-sn");
  const filters = o.mode === "live" ? [`fps=${o.fps}`] : [];
  // cropped at the camera's resolution, then scaled: the region gets all of the model's input
  if (!isWholeView(o.view)) filters.push(cropFilter(o.view!));
  filters.push(
    o.stretch
      ? `scale=${o.width}:${o.height}:flags=bilinear`
      : `scale=${o.width}:${o.height}:force_original_aspect_ratio=decrease:flags=bilinear`,
  );
  args.push("-vf", filters.join(","));
  args.push("-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1");
  return args;
}

/** ffmpeg's crop of a relative rectangle, in whole input pixels (`exact`: no rounding to chroma blocks). */
export function cropFilter(v: ViewRect): string {
  return `crop=w=trunc(iw*${v.width}):h=trunc(ih*${v.height}):x=trunc(iw*${v.x}):y=trunc(ih*${v.y}):exact=1`;
}

/** The rectangle `cropFilter` takes out of a `width` x `height` input, as it really is in whole pixels. */
export function croppedView(v: ViewRect, width: number, height: number): ViewRect {
  return inWholePixels(v, width, height).view;
}

/** Where ffmpeg's `force_original_aspect_ratio=decrease` puts a `width` x `height` input in a box. */
export function fitInside(width: number, height: number, box: { width: number; height: number }) {
  return {
    width: Math.min(box.width, Math.round((box.height * width) / height)),
    height: Math.min(box.height, Math.round((box.width * height) / width)),
  };
}

export interface FfmpegInfo {
  /** Size of the frames ffmpeg writes. */
  readonly width: number;
  readonly height: number;
  /** Size of the video ffmpeg reads (the camera's resolution), when it says. */
  readonly input: { readonly width: number; readonly height: number } | undefined;
  readonly inputFps: number | undefined;
}

/** ffmpeg announces the output size and the input frame rate on stderr before the first frame. */
export function parseFfmpegInfo(stderr: string): FfmpegInfo | undefined {
  const out = stderr.indexOf("Output #0");
  if (out < 0) return undefined;
  const m = stderr.slice(out).match(/Video: rawvideo[^\n]*?, (\d{2,5})x(\d{2,5})/);
  if (!m) return undefined;
  const input = stderr.slice(0, out);
  const fps = input.match(/, (\d+(?:\.\d+)?) fps/) ?? input.match(/, (\d+(?:\.\d+)?) tbr/);
  const size = input.match(/Stream #[^\n]*Video: [^\n]*?, (\d{2,5})x(\d{2,5})/);
  return {
    width: Number(m[1]),
    height: Number(m[2]),
    input: size ? { width: Number(size[1]), height: Number(size[2]) } : undefined,
    inputFps: fps ? Number(fps[1]) : undefined,
  };
}
