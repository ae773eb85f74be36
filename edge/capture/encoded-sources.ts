import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { redactText } from "../domain/redact.ts";
import type { Frame } from "../domain/types.ts";
import { CaptureError } from "./ffmpeg.ts";
import { JpegStreamSplitter, jpegSize, MultipartParser, pngSize } from "./jpeg.ts";
import { LatestSlot } from "./latest.ts";
import { type FrameSource, type SourceState, SourceStats } from "./source.ts";

/**
 * Runs a push-style producer of JPEG images as a live frame source: the newest image wins.
 * `start` begins producing and returns a stop function; it reports images, garbage, end and errors.
 */
async function* liveJpegFrames(
  stats: SourceStats,
  signal: AbortSignal,
  start: (on: {
    image: (jpeg: Buffer) => void;
    corrupt: () => void;
    end: (err?: Error) => void;
  }) => () => void,
): AsyncGenerator<Frame> {
  stats.set("starting");
  const slot = new LatestSlot<Frame>(() => {
    stats.framesDropped++;
  });
  let seq = 0;
  let failure: Error | undefined;
  const stop = start({
    image: (jpeg) => {
      const size = jpegSize(jpeg);
      if (!size) {
        stats.framesCorrupt++;
        return;
      }
      stats.framesDecoded++;
      if (stats.state !== "up") stats.set("up");
      slot.put({
        seq: seq++,
        tsMs: Date.now(),
        monoMs: performance.now(),
        width: size.width,
        height: size.height,
        pixels: { kind: "encoded", data: jpeg },
      });
    },
    corrupt: () => {
      stats.framesCorrupt++;
    },
    end: (err) => {
      failure ??= err;
      slot.close();
    },
  });
  const onAbort = () => slot.close();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const f = await slot.take();
      if (!f) break;
      yield f;
    }
    if (failure && !signal.aborted) throw failure;
    stats.set("ended");
  } catch (err) {
    stats.set("down", (err as Error).message);
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
    stop();
  }
}

/** An HTTP camera serving multipart/x-mixed-replace MJPEG, read directly (no ffmpeg). */
export class MjpegHttpSource implements FrameSource {
  private readonly stats = new SourceStats();

  constructor(readonly url: string) {}

  get description(): string {
    return `MJPEG over HTTP ${redactText(this.url)}`;
  }

  state(): SourceState {
    return this.stats.snapshot();
  }

  frames(signal: AbortSignal): AsyncIterable<Frame> {
    return liveJpegFrames(this.stats, signal, (on) => {
      const ac = new AbortController();
      void (async () => {
        try {
          const res = await fetch(this.url, { signal: ac.signal });
          const type = res.headers.get("content-type") ?? "";
          const boundary = type.match(/boundary="?([^";]+)"?/i)?.[1];
          if (!res.ok || !res.body) throw new CaptureError(`HTTP ${res.status} from ${this.description}`);
          if (!/multipart\/x-mixed-replace/i.test(type) || !boundary) {
            throw new CaptureError(
              `${this.description} answered ${type || "no content type"}, expected multipart/x-mixed-replace MJPEG`,
            );
          }
          const parser = new MultipartParser(boundary, on.image);
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
            parser.push(Buffer.from(chunk));
          on.end(new CaptureError(`${this.description}: stream ended`));
        } catch (err) {
          on.end(
            ac.signal.aborted
              ? undefined
              : err instanceof CaptureError
                ? err
                : new CaptureError(redactText(`${this.description}: ${(err as Error).message}`)),
          );
        }
      })();
      return () => ac.abort();
    });
  }
}

/** The Raspberry Pi camera through rpicam-vid (or libcamera-vid on older systems) writing MJPEG to stdout. */
export class RpicamSource implements FrameSource {
  private readonly stats = new SourceStats();

  constructor(
    readonly options: {
      readonly width: number;
      readonly height: number;
      readonly fps: number;
      readonly binary?: string;
    },
  ) {}

  get description(): string {
    return `Raspberry Pi camera (${this.options.binary ?? "rpicam-vid"})`;
  }

  state(): SourceState {
    return this.stats.snapshot();
  }

  frames(signal: AbortSignal): AsyncIterable<Frame> {
    const o = this.options;
    return liveJpegFrames(this.stats, signal, (on) => {
      const bin = o.binary ?? "rpicam-vid";
      const args = [
        "-t",
        "0",
        "-n",
        "--codec",
        "mjpeg",
        "--framerate",
        String(o.fps),
        "--width",
        String(o.width),
        "--height",
        String(o.height),
        "-o",
        "-",
      ];
      const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        if (stderr.length < 4000) stderr += d.toString();
      });
      const splitter = new JpegStreamSplitter(on.image, on.corrupt);
      child.stdout.on("data", (c: Buffer) => splitter.push(c));
      child.on("error", (err) =>
        on.end(
          new CaptureError(
            `cannot start ${bin}: ${err.message}; install rpicam-apps (Raspberry Pi OS: sudo apt install rpicam-apps)`,
          ),
        ),
      );
      child.on("close", (code) =>
        on.end(
          new CaptureError(`${bin} exited with ${code}: ${stderr.trim().split("\n").slice(-1)[0] ?? ""}`),
        ),
      );
      return () => child.kill("SIGTERM");
    });
  }
}

const IMAGE_EXT = new Set([".jpg", ".jpeg", ".png"]);

/**
 * A folder of JPEG/PNG images sorted by name, for replays and tests: every image in order, with
 * timestamps `fps` apart on a timeline starting at `startMs`. Unreadable images are skipped and counted.
 */
export class FolderSource implements FrameSource {
  private readonly stats = new SourceStats();

  constructor(
    readonly dir: string,
    readonly options: {
      readonly fps: number;
      readonly startMs?: number | undefined;
      readonly paced?: boolean;
    },
  ) {
    if (!statSync(dir).isDirectory()) throw new CaptureError(`${dir} is not a folder`);
  }

  get description(): string {
    return `image folder ${this.dir}`;
  }

  state(): SourceState {
    return this.stats.snapshot();
  }

  async *frames(signal: AbortSignal): AsyncGenerator<Frame> {
    const files = readdirSync(this.dir)
      .filter((f) => IMAGE_EXT.has(extname(f).toLowerCase()))
      .sort();
    const startMs = this.options.startMs ?? Date.now();
    this.stats.set("up");
    let seq = 0;
    for (const [i, f] of files.entries()) {
      if (signal.aborted) return;
      const data = readFileSync(join(this.dir, f));
      const size = jpegSize(data) ?? pngSize(data);
      if (!size) {
        this.stats.framesCorrupt++;
        continue;
      }
      this.stats.framesDecoded++;
      const tsMs = startMs + (i * 1000) / this.options.fps;
      if (this.options.paced) {
        const wait = tsMs - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      yield {
        seq: seq++,
        tsMs,
        monoMs: tsMs - startMs,
        width: size.width,
        height: size.height,
        pixels: { kind: "encoded", data },
      };
    }
    this.stats.set("ended");
  }
}
