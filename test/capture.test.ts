import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { getEventListeners } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { getPriority, tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FolderSource, MjpegHttpSource } from "../edge/capture/encoded-sources.ts";
import { CaptureError, probeVideo, requireBinary } from "../edge/capture/ffmpeg.ts";
import { DECODER_NICE, FfmpegSource } from "../edge/capture/ffmpeg-source.ts";
import { JpegStreamSplitter, jpegSize } from "../edge/capture/jpeg.ts";
import { LatestSlot } from "../edge/capture/latest.ts";
import { openCamera } from "../edge/capture/open.ts";
import type { FrameSource } from "../edge/capture/source.ts";
import { SupervisedSource } from "../edge/capture/supervisor.ts";
import { parseConfig } from "../edge/config/load.ts";
import type { Frame } from "../edge/domain/types.ts";
import { dataPath, describeWithAssets, REPO_ROOT } from "./helpers/assets.ts";
import { freePort, waitFor } from "./helpers/brokers.ts";

const tmp = mkdtempSync(join(tmpdir(), "capture-"));
const clip = join(tmp, "testsrc.mp4");
const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.kill("SIGKILL");
});

beforeAll(() => {
  // 4 s of ffmpeg's test pattern at 25 fps, 1280x720
  const r = spawnSync("ffmpeg", [
    "-v",
    "error",
    "-f",
    "lavfi",
    "-i",
    "testsrc=size=1280x720:rate=25",
    "-t",
    "4",
    "-pix_fmt",
    "yuv420p",
    "-y",
    clip,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg could not make the test clip: ${r.stderr}`);
});

async function collect(
  source: FrameSource,
  opts: {
    max?: number;
    delayMs?: number;
    timeoutMs?: number;
    tolerateEnd?: boolean;
    /** Receives the memory behind each frame as the source handed it out (frames are copied). */
    buffers?: Set<ArrayBufferLike>;
  } = {},
): Promise<Frame[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), opts.timeoutMs ?? 20_000);
  const frames: Frame[] = [];
  try {
    for await (const f of source.frames(ac.signal)) {
      opts.buffers?.add((f.pixels as { data: Buffer }).data.buffer);
      frames.push({
        ...f,
        pixels: { ...f.pixels, data: Buffer.from(f.pixels.data.subarray(0, 16)) } as Frame["pixels"],
      });
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      if (opts.max && frames.length >= opts.max) break;
    }
  } catch (err) {
    if (!opts.tolerateEnd) throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return frames;
}

const options = { fps: 10, width: 416, height: 416, stretch: false } as const;

describe("ffmpeg source", () => {
  it("replay: every frame of a file, in order, scaled to the detector input, with the file's own timestamps", async () => {
    const src = new FfmpegSource({
      ...options,
      input: clip,
      inputKind: "file",
      mode: "replay",
      replayStartMs: 1_000_000,
    });
    const frames = await collect(src);
    expect(frames).toHaveLength(100);
    expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([frames[0]!.width, frames[0]!.height]).toEqual([416, 234]);
    expect(frames[0]!.pixels.kind).toBe("rgb");
    expect(frames[10]!.tsMs - frames[0]!.tsMs).toBe(400); // 25 fps
    expect(src.state()).toMatchObject({ state: "ended", framesDecoded: 100, framesDropped: 0 });
  });

  it("live: a slow consumer sees increasing sequence numbers with gaps; drops are counted; memory stays bounded", async () => {
    const src = new FfmpegSource({ ...options, input: clip, inputKind: "file", mode: "live" });
    const buffers = new Set<ArrayBufferLike>();
    const frames = await collect(src, { delayMs: 250, buffers });
    const seqs = frames.map((f) => f.seq);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
    expect(seqs.some((s, i) => i > 0 && s - seqs[i - 1]! > 1)).toBe(true);
    const st = src.state();
    expect(st.framesDropped).toBeGreaterThan(0);
    expect(st.framesDecoded).toBe(frames.length + st.framesDropped);
    // frames are handed out in a handful of recycled buffers, however many were decoded and dropped
    expect(frames.length).toBeGreaterThan(12);
    expect(buffers.size).toBeLessThanOrEqual(12);
  });

  it("ffmpeg decodes at a lower priority than the counter, in every thread", async () => {
    const src = new FfmpegSource({ ...options, input: clip, inputKind: "file", mode: "live" });
    const ac = new AbortController();
    const niceOf = (path: string) => {
      const stat = readFileSync(path, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    };
    // ffmpeg processes started by this one, read while frames flow (decoding threads exist then)
    const ffmpegThreads = () =>
      readdirSync("/proc")
        .filter((pid) => /^\d+$/.test(pid))
        .filter((pid) => {
          try {
            const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            return ppid === process.pid && stat.includes("(ffmpeg)");
          } catch {
            return false; // gone meanwhile
          }
        })
        .flatMap((pid) => readdirSync(`/proc/${pid}/task`).map((tid) => `/proc/${pid}/task/${tid}/stat`));
    let threads: number[] = [];
    for await (const f of src.frames(ac.signal)) {
      if (f.seq >= 5) {
        threads = ffmpegThreads().map(niceOf);
        ac.abort();
      }
    }
    expect(threads.length).toBeGreaterThan(0);
    for (const nice of threads) expect(nice).toBe(Math.min(19, getPriority(0) + DECODER_NICE));
  });

  it("reads a live stream from a pipe (ffmpeg testsrc written into a FIFO)", async () => {
    const fifo = join(tmp, "stream.fifo");
    spawnSync("mkfifo", [fifo]);
    const writer = spawn("ffmpeg", [
      "-v",
      "error",
      "-re",
      "-f",
      "lavfi",
      "-i",
      "testsrc=size=640x480:rate=10",
      "-t",
      "3",
      "-f",
      "mpegts",
      "-y",
      fifo,
    ]);
    procs.push(writer);
    const src = new FfmpegSource({ ...options, input: fifo, inputKind: "stream", mode: "live" });
    const frames = await collect(src, { max: 10 });
    expect(frames).toHaveLength(10);
    expect([frames[0]!.width, frames[0]!.height]).toEqual([416, 312]);
  });

  it("a missing ffmpeg binary fails at start with how to install it", () => {
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      expect(() => requireBinary("ffmpeg")).toThrow(CaptureError);
      expect(() => requireBinary("ffmpeg")).toThrow(/apt-get install ffmpeg/);
    } finally {
      process.env.PATH = path;
    }
  });

  it("a missing file is a configuration error, before anything starts", () => {
    const camera = parseConfig(
      { device: { id: "d", location: { latitude: 0, longitude: 0 } }, camera: { source: "/no/such.mp4" } },
      "t",
      {},
    ).camera;
    expect(() => openCamera(camera, options)).toThrow(/camera.source: file \/no\/such.mp4 does not exist/);
  });
});

const gstAvailable =
  spawnSync("/usr/bin/python3", ["-c", "import gi; gi.require_version('GstRtspServer', '1.0')"]).status === 0;

describe.runIf(gstAvailable || process.env.CI === "true")("RTSP camera that goes away", () => {
  async function rtspServer(port: number): Promise<ChildProcess> {
    const p = spawn("/usr/bin/python3", [join(REPO_ROOT, "test/fixtures/rtsp-server.py"), String(port)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    procs.push(p);
    await new Promise<void>((resolve, reject) => {
      p.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
      p.once("exit", (c) => reject(new Error(`rtsp server exited ${c}`)));
    });
    return p;
  }

  it("the picture's size is read from the stream before capturing; a camera that never answers is an error in time, without its password", async () => {
    const port = await freePort();
    await rtspServer(port);
    expect(await probeVideo(`rtsp://127.0.0.1:${port}/test`, true, 10_000)).toMatchObject({
      width: 320,
      height: 240,
    });
    // accepts the connection and says nothing, like a camera that hangs
    const sockets: Socket[] = [];
    const silent = createTcpServer((s) => sockets.push(s));
    const silentPort = await freePort();
    await new Promise<void>((r) => silent.listen(silentPort, "127.0.0.1", r));
    try {
      const url = `rtsp://admin:pr0be-s3cret@127.0.0.1:${silentPort}/stream1`;
      const error = await probeVideo(url, true, 1500).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(CaptureError);
      expect(error?.message).toMatch(/no answer within 2 s/);
      expect(error?.message).not.toContain("pr0be-s3cret");
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it("reconnects after the server is killed and restarted; frames resume and the downtime is reported", async () => {
    const port = await freePort();
    let server = await rtspServer(port);
    const states: string[] = [];
    const source = new SupervisedSource(
      () =>
        new FfmpegSource({
          ...options,
          input: `rtsp://127.0.0.1:${port}/test`,
          inputKind: "stream",
          mode: "live",
        }),
      {
        stallTimeoutSec: 6,
        backoffMinMs: 200,
        backoffMaxMs: 1000,
        restartOnEnd: true,
        onStateChange: (s) => states.push(s.state),
      },
    );
    const ac = new AbortController();
    const seen: { seq: number; at: number }[] = [];
    let downAt = 0;
    let downSince = 0;
    const loop = (async () => {
      for await (const f of source.frames(ac.signal)) seen.push({ seq: f.seq, at: Date.now() });
    })();
    await waitFor(() => seen.length >= 10, 20_000, "first frames");
    server.kill("SIGKILL");
    downAt = Date.now();
    await waitFor(() => source.state().state !== "up", 10_000, "camera down");
    const down = source.state();
    downSince = down.sinceMs;
    expect(down.lastError).toBeTruthy();
    // it keeps trying while the server is away (a second attempt fails too)
    await waitFor(() => source.state().restarts >= 2, 15_000, "a retry while the server is down");
    const before = seen.length;
    server = await rtspServer(port);
    await waitFor(() => seen.length >= before + 10, 30_000, "frames after restart");
    ac.abort();
    await loop;
    const st = source.state();
    expect(st.restarts).toBeGreaterThanOrEqual(1);
    expect(states).toContain("down");
    expect(states.at(-1)).toBe("up");
    expect(downSince).toBeGreaterThanOrEqual(downAt - 100);
    const seqs = seen.map((s) => s.seq);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
  });
});

describe("MJPEG over HTTP", () => {
  let server: Server;
  let url: string;
  let good: Buffer;
  const clients: ServerResponse[] = [];

  beforeAll(async () => {
    good = await sharp({
      create: { width: 64, height: 48, channels: 3, background: { r: 90, g: 120, b: 30 } },
    })
      .jpeg()
      .toBuffer();
    server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "multipart/x-mixed-replace; boundary=frame" });
      clients.push(res);
      let i = 0;
      const timer = setInterval(() => {
        // every fourth part is damaged: garbage, a truncated JPEG, then a good one again
        const body =
          i % 4 === 1
            ? Buffer.from("this is not a jpeg")
            : i % 4 === 3
              ? good.subarray(0, good.length / 2)
              : good;
        res.write(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${body.length}\r\n\r\n`);
        res.write(body);
        res.write("\r\n");
        if (++i >= 40) {
          clearInterval(timer);
          res.end("--frame--\r\n");
        }
      }, 10);
      res.on("close", () => clearInterval(timer));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/stream`;
  });
  afterAll(() => {
    for (const c of clients) c.destroy();
    server.close();
  });

  it("skips and counts corrupt parts without losing the stream", async () => {
    const src = new MjpegHttpSource(url);
    const frames = await collect(src, { timeoutMs: 5000, tolerateEnd: true });
    const st = src.state();
    expect(st.framesCorrupt).toBe(20);
    expect(st.framesDecoded).toBe(20);
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.length + st.framesDropped).toBe(20);
    expect([frames[0]!.width, frames[0]!.height]).toEqual([64, 48]);
    expect(st.state).toBe("down"); // the stream ended: a live camera is restarted by its supervisor
  });
});

describe("frames without ffmpeg", () => {
  it("JPEG headers: size from SOF, truncated or garbage rejected", async () => {
    const jpeg = await sharp({ create: { width: 33, height: 21, channels: 3, background: "#fff" } })
      .jpeg()
      .toBuffer();
    expect(jpegSize(jpeg)).toEqual({ width: 33, height: 21 });
    expect(jpegSize(jpeg.subarray(0, jpeg.length - 10))).toBeUndefined();
    expect(jpegSize(Buffer.from("garbage"))).toBeUndefined();
    const images: Buffer[] = [];
    const splitter = new JpegStreamSplitter((j) => images.push(j));
    const stream = Buffer.concat([Buffer.from("noise"), jpeg, jpeg, Buffer.from("xx"), jpeg]);
    for (let i = 0; i < stream.length; i += 7) splitter.push(stream.subarray(i, i + 7));
    expect(images).toHaveLength(3);
    expect(images.every((j) => j.equals(jpeg))).toBe(true);
  });

  it("the latest slot keeps only the newest item and counts the rest as dropped", async () => {
    const released: number[] = [];
    const slot = new LatestSlot<number>((n) => released.push(n));
    for (let i = 0; i < 5; i++) slot.put(i);
    expect(await slot.take()).toBe(4);
    expect(released).toEqual([0, 1, 2, 3]);
    expect(slot.dropped).toBe(4);
  });

  it("an image folder is replayed in name order; unreadable files are skipped and counted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "folder-"));
    const img = await sharp({ create: { width: 40, height: 30, channels: 3, background: "#888" } })
      .jpeg()
      .toBuffer();
    writeFileSync(join(dir, "002.jpg"), img);
    writeFileSync(join(dir, "001.jpg"), img);
    writeFileSync(join(dir, "003.jpg"), Buffer.from("broken"));
    writeFileSync(join(dir, "004.png"), await sharp(img).png().toBuffer());
    const src = new FolderSource(dir, { fps: 5, startMs: 0 });
    const frames = await collect(src);
    expect(frames.map((f) => f.tsMs)).toEqual([0, 200, 600]);
    expect(src.state()).toMatchObject({ framesCorrupt: 1, framesDecoded: 3, state: "ended" });
  });
});

describe("supervisor", () => {
  it("restarts a source that keeps ending without leaving listeners on the caller's signal", async () => {
    const dir = mkdtempSync(join(tmpdir(), "restart-"));
    const img = await sharp({ create: { width: 16, height: 12, channels: 3, background: "#444" } })
      .jpeg()
      .toBuffer();
    writeFileSync(join(dir, "001.jpg"), img);
    // a one-image folder ends at once: every pass is a restart, as on a camera that keeps dropping
    const source = new SupervisedSource(() => new FolderSource(dir, { fps: 1000, startMs: 0 }), {
      stallTimeoutSec: 5,
      backoffMinMs: 1,
      backoffMaxMs: 2,
      restartOnEnd: true,
    });
    const ac = new AbortController();
    const listeners: number[] = [];
    const seqs: number[] = [];
    for await (const f of source.frames(ac.signal)) {
      seqs.push(f.seq);
      listeners.push(getEventListeners(ac.signal, "abort").length);
      if (seqs.length === 30) ac.abort();
    }
    expect(source.state().restarts).toBeGreaterThanOrEqual(29);
    expect(seqs).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(Math.max(...listeners)).toBeLessThanOrEqual(2);
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);
  });
});

describeWithAssets(
  "real street clips decoded end to end",
  [
    dataPath("intel-person-bicycle-car/person-bicycle-car-detection.mp4"),
    dataPath("pets09-s2l1/pets09-s2l1.avi"),
  ],
  () => {
    it.each([
      ["intel-person-bicycle-car/person-bicycle-car-detection.mp4", 459, [416, 234]],
      ["pets09-s2l1/pets09-s2l1.avi", 795, [416, 312]],
    ] as const)("%s", async (file, count, size) => {
      const src = new FfmpegSource({ ...options, input: dataPath(file), inputKind: "file", mode: "replay" });
      const frames = await collect(src, { timeoutMs: 60_000 });
      expect(frames).toHaveLength(count);
      expect([frames[0]!.width, frames[0]!.height]).toEqual(size);
    });
  },
);
