import { spawn } from "node:child_process";
import { getPriority, setPriority } from "node:os";
import { Redactor, secretsIn } from "../domain/redact.ts";
import type { Frame } from "../domain/types.ts";
import { isWholeView, type ViewRect } from "../domain/view.ts";
import {
  CaptureError,
  croppedView,
  type FfmpegInfo,
  type FfmpegSourceOptions,
  ffmpegArgs,
  fitInside,
  parseFfmpegInfo,
  requireBinary,
} from "./ffmpeg.ts";
import { BufferPool, LatestSlot } from "./latest.ts";
import type { FrameSource, SourceState } from "./source.ts";
import { SourceStats } from "./source.ts";

/**
 * RTSP/HTTP streams, video files and V4L2 cameras through ffmpeg, delivered as raw RGB frames
 * already scaled to the detector's input (the cheapest path measured: no JPEG encode or decode).
 * One ffmpeg process per `frames()` call; it ends with the stream, an error or the abort signal.
 */
export class FfmpegSource implements FrameSource {
  private readonly stats = new SourceStats();
  // ffmpeg repeats the input URL (credentials and all) in its messages
  private readonly redactor: Redactor;

  constructor(readonly options: FfmpegSourceOptions) {
    requireBinary("ffmpeg");
    this.redactor = new Redactor(secretsIn(options.input));
  }

  get description(): string {
    return `ffmpeg ${this.options.inputKind} ${this.redactor.text(this.options.input)}`;
  }

  state(): SourceState {
    return this.stats.snapshot();
  }

  async *frames(signal: AbortSignal): AsyncGenerator<Frame> {
    const o = this.options;
    this.stats.set("starting");
    const child = spawn("ffmpeg", ffmpegArgs(o), { stdio: ["ignore", "pipe", "pipe"] });
    giveWay(child.pid);
    let stderr = "";
    let info: ReturnType<typeof parseFfmpegInfo>;
    let frameBytes = 0;
    let pool: BufferPool | undefined;
    let filling: Buffer | undefined;
    let filled = 0;
    let seq = 0;
    const startMs = o.replayStartMs ?? Date.now();
    const live = o.mode === "live";
    const slot = new LatestSlot<Frame>((f) => {
      this.stats.framesDropped++;
      pool?.put((f.pixels as { data: Buffer }).data);
    });
    // replay: frames wait here in order; the stream is paused while the consumer is busy
    const queue: Frame[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    let failure: Error | undefined;

    // the head (stream info) is kept whole; of the rest, only the last error lines (a long replay
    // can log for hours)
    const errorLines: string[] = [];
    let partialLine = "";
    child.stderr.on("data", (d: Buffer) => {
      const text = d.toString();
      if (stderr.length < 20_000) stderr += text;
      const lines = (partialLine + text).split(/\r?\n|\r/);
      partialLine = lines.pop() ?? "";
      for (const line of lines) {
        if (!FFMPEG_ERROR_LINE.test(line)) continue;
        errorLines.push(line.trim());
        if (errorLines.length > 4) errorLines.shift();
      }
    });
    const onAbort = () => child.kill("SIGTERM");
    signal.addEventListener("abort", onAbort, { once: true });

    // a cropped frame shows part of a scene as large as the whole view would have been delivered:
    // boxes keep the same units whether the detector looks at all of it or at a region
    let scene: { width: number; height: number; view?: ViewRect } | undefined;
    const sceneOf = (i: FfmpegInfo) => {
      const v = o.view;
      if (!v || isWholeView(v)) return { width: i.width, height: i.height };
      // the input's size unannounced (never seen with ffmpeg 5-7): the requested crop, scaled up
      if (!i.input) return { width: i.width / v.width, height: i.height / v.height, view: v };
      const whole = o.stretch
        ? { width: o.width, height: o.height }
        : fitInside(i.input.width, i.input.height, o);
      return { ...whole, view: croppedView(v, i.input.width, i.input.height) };
    };
    const emit = (data: Buffer) => {
      const nowMs = Date.now();
      const fps = o.replayFps ?? info!.inputFps ?? o.fps;
      const tsMs = live ? nowMs : startMs + (seq * 1000) / fps;
      scene ??= sceneOf(info!);
      const frame: Frame = {
        seq: seq++,
        tsMs,
        monoMs: live ? performance.now() : tsMs - startMs,
        width: scene.width,
        height: scene.height,
        ...(scene.view ? { view: scene.view } : {}),
        pixels: { kind: "rgb", data, width: info!.width, height: info!.height },
      };
      this.stats.framesDecoded++;
      if (this.stats.state !== "up") this.stats.set("up");
      if (live) slot.put(frame);
      else {
        queue.push(frame);
        if (queue.length >= 2) child.stdout.pause();
        wake?.();
      }
    };

    // stdout can deliver pixels before stderr has announced their size: hold them until it has
    const early: Buffer[] = [];
    const consume = (chunk: Buffer) => {
      let offset = 0;
      while (offset < chunk.length) {
        filling ??= pool!.get();
        const n = Math.min(frameBytes - filled, chunk.length - offset);
        chunk.copy(filling, filled, offset, offset + n);
        filled += n;
        offset += n;
        if (filled === frameBytes) {
          emit(filling);
          filling = undefined;
          filled = 0;
        }
      }
    };
    const tryInfo = () => {
      if (info) return;
      info = parseFfmpegInfo(stderr);
      if (!info) return;
      frameBytes = info.width * info.height * 3;
      pool = new BufferPool(frameBytes, 4);
      for (const c of early.splice(0)) consume(c);
    };
    child.stderr.on("data", tryInfo);
    child.stdout.on("data", (chunk: Buffer) => {
      tryInfo();
      if (info) consume(chunk);
      else if (early.length < 64) early.push(Buffer.from(chunk));
      else {
        failure = new CaptureError(`ffmpeg did not report its output size for ${this.description}`);
        child.kill("SIGTERM");
      }
    });
    child.on("close", (code) => {
      ended = true;
      if (code !== 0 && !signal.aborted && !failure) {
        const tail = (errorLines.length > 0 ? errorLines.slice(-2) : stderr.trim().split("\n").slice(-2))
          .join(" ")
          .slice(0, 400);
        failure = new CaptureError(
          this.redactor.text(`ffmpeg exited with ${code} reading ${o.input}: ${tail}`),
        );
      } else if (code === 0 && !signal.aborted && !failure && o.inputKind === "file") {
        // ffmpeg ends a truncated file with exit 0: tell an early end with errors from a whole file
        const expected = expectedFrames(stderr, info?.inputFps);
        const short = expected !== undefined && seq < expected * 0.95 - 1;
        const partial = errorLines.some((l) => /partial file/i.test(l));
        if (partial || (short && errorLines.length > 0)) {
          failure = new CaptureError(
            this.redactor.text(
              `${o.input}: the stream ended with an error after ${seq} frames` +
                `${expected !== undefined ? ` (the file announces about ${Math.round(expected)})` : ""}: ` +
                errorLines.slice(-2).join(" ").slice(0, 400),
            ),
          );
        }
      }
      slot.close();
      wake?.();
    });
    child.on("error", (err) => {
      failure = new CaptureError(`cannot start ffmpeg: ${err.message}`);
    });

    let current: Frame | undefined;
    try {
      for (;;) {
        if (current) pool?.put((current.pixels as { data: Buffer }).data);
        current = undefined;
        if (live) {
          current = await slot.take();
        } else {
          if (queue.length === 0 && !ended) {
            child.stdout.resume();
            await new Promise<void>((r) => {
              wake = r;
            });
            wake = undefined;
          }
          current = queue.shift();
          if (queue.length < 2) child.stdout.resume();
        }
        if (!current) break;
        yield current;
      }
      if (failure) throw failure;
      this.stats.set("ended");
    } catch (err) {
      this.stats.set("down", (err as Error).message);
      throw err;
    } finally {
      signal.removeEventListener("abort", onAbort);
      if (child.exitCode === null) child.kill("SIGTERM");
    }
  }
}

/** ffmpeg's lines that report damage in the input (as opposed to its informational chatter). */
const FFMPEG_ERROR_LINE =
  /error|invalid|corrupt|partial file|moov atom not found|no such file|unauthori[sz]ed|refused|timed out|failed/i;

/** Frames a file should hold, from the duration and frame rate ffmpeg announces. */
function expectedFrames(stderr: string, fps: number | undefined): number | undefined {
  const m = stderr.match(/Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/);
  if (!m || !fps) return undefined;
  const sec = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  return sec > 0 ? sec * fps : undefined;
}

/** How far ffmpeg's priority is below the counter's (nice steps). */
export const DECODER_NICE = 5;

/**
 * Decoding is bulk work that the frame buffers absorb; the Node thread (camera pipe, API, MQTT
 * keep-alives, the interval clock) and the model go first when they share a core with it.
 * Measured in docs/performance.md. A process that is already gone keeps nothing to lower.
 */
function giveWay(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    setPriority(pid, Math.min(19, getPriority(0) + DECODER_NICE));
  } catch {
    // ffmpeg failed to start or already exited: its own error is reported where it is read
  }
}
