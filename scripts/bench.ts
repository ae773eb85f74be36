// npm run bench [-- --section detect|track|capture|pipeline|setup|history] [--iterations N] [--threads N] [--models a,b]
// Prints median and p90 milliseconds per stage. Figures, not assertions: the machine is shared and noisy.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { parseConfig } from "../edge/config/load.ts";
import { LineCounter } from "../edge/count/line-counter.ts";
import { ZoneCounter } from "../edge/count/zone-counter.ts";
import { computeGeometry } from "../edge/detect/letterbox.ts";
import { detectorOptionsFrom } from "../edge/detect/load-detector.ts";
import { loadManifest } from "../edge/detect/model-descriptor.ts";
import { OnnxDetector } from "../edge/detect/onnx-detector.ts";
import { seededRandom } from "../edge/domain/random.ts";
import type { Detection, FramePixels } from "../edge/domain/types.ts";
import { ByteTracker } from "../edge/track/byte-tracker.ts";
import { ModeOfTravel } from "../edge/track/mode-of-travel.ts";

const { values: args } = parseArgs({
  options: {
    section: { type: "string", default: "all" },
    iterations: { type: "string", default: "30" },
    threads: { type: "string", default: "0" },
    models: { type: "string" },
    minutes: { type: "string" },
    seconds: { type: "string", default: "20" },
    repeats: { type: "string", default: "3" },
    // pipeline: a client asking /health in a loop while counting (off: throughput alone)
    "health-client": { type: "string", default: "on" },
    // pipeline-run (one configuration, started by the pipeline section in a child process)
    clip: { type: "string" },
    inference: { type: "string" },
    port: { type: "string" },
    db: { type: "string" },
  },
});
const MODEL_DIR = resolve(process.env.MODEL_DIR ?? "../shared/models");
const DATA_DIR = resolve(process.env.DATA_DIR ?? "../shared/data");
const iterations = Number(args.iterations);

function stats(xs: number[]): { median: number; p90: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: at(0.5), p90: at(0.9) };
}
const percentileOf = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};
const f = (v: number) => v.toFixed(2).padStart(7);

async function framesAt(width: number, height: number): Promise<Buffer[]> {
  return Promise.all(
    ["street.jpg", "dog.jpg", "person.jpg"].map((name) =>
      sharp(readFileSync(`${DATA_DIR}/images/${name}`))
        .resize(width, height, { fit: "cover" })
        .jpeg({ quality: 85 })
        .toBuffer(),
    ),
  );
}

async function rawFrames(jpegs: Buffer[], width: number, height: number): Promise<Buffer[]> {
  return Promise.all(
    jpegs.map((j) => sharp(j).resize(width, height, { fit: "fill" }).removeAlpha().raw().toBuffer()),
  );
}

async function benchDetect(): Promise<void> {
  const manifest = loadManifest();
  const ids = args.models ? args.models.split(",") : manifest.models.map((m) => m.id);
  console.log(
    `\n## detect: ${iterations} frames per row after warm-up, threads=${args.threads === "0" ? "auto" : args.threads}`,
  );
  console.log("ms per frame, median (p90); ratio = (prepare + post) / model");
  console.log(
    `${"model".padEnd(18)} ${"frame".padEnd(10)} ${"path".padEnd(22)} ${"prepare".padStart(17)} ${"model".padStart(17)} ${"post".padStart(17)}  ratio`,
  );
  for (const id of ids) {
    const desc = manifest.models.find((m) => m.id === id)!;
    const model = benchConfig("detect", { source: "none.mp4" }, Number(args.threads), "unused.db").model;
    const detector = await OnnxDetector.load(detectorOptionsFrom({ ...model, id, confidence: 0.3 }));
    for (const [w, h] of [
      [1280, 720],
      [1920, 1080],
    ] as const) {
      const jpegs = await framesAt(w, h);
      const g = computeGeometry(
        w,
        h,
        desc.input.width,
        desc.input.height,
        desc.preprocess.resize,
        desc.preprocess.padPlacement,
      );
      const scaled = await rawFrames(jpegs, g.resizedWidth, g.resizedHeight);
      const fullRaw = await rawFrames(jpegs, w, h);
      const paths: [string, (i: number) => FramePixels][] = [
        ["jpeg (decode+resize)", (i) => ({ kind: "encoded", data: jpegs[i % jpegs.length]! })],
        [
          "raw rgb full size",
          (i) => ({ kind: "rgb", data: fullRaw[i % fullRaw.length]!, width: w, height: h }),
        ],
        [
          "raw rgb model-sized",
          (i) => ({
            kind: "rgb",
            data: scaled[i % scaled.length]!,
            width: g.resizedWidth,
            height: g.resizedHeight,
          }),
        ],
      ];
      for (const [name, frame] of paths) {
        for (let i = 0; i < 3; i++) await detector.detect(frame(i));
        const pre: number[] = [];
        const run: number[] = [];
        const post: number[] = [];
        for (let i = 0; i < iterations; i++) {
          await detector.detect(frame(i));
          pre.push(detector.lastTimings.preprocessMs);
          run.push(detector.lastTimings.inferenceMs);
          post.push(detector.lastTimings.postprocessMs);
        }
        const [p, r, q] = [stats(pre), stats(run), stats(post)];
        console.log(
          `${id.padEnd(18)} ${`${w}x${h}`.padEnd(10)} ${name.padEnd(22)} ${f(p.median)} (${f(p.p90)}) ${f(r.median)} (${f(r.p90)}) ${f(q.median)} (${f(q.p90)})  ${((p.median + q.median) / r.median).toFixed(3)}`,
        );
      }
    }
    await detector.release();
  }
}

async function benchTrack(): Promise<void> {
  console.log(
    "\n## track + count: tracker, mode of travel, 2 lines and 1 zone per frame; 1920x1080 scene, 10 fps",
  );
  console.log(`${"objects".padEnd(8)} ${"median ms".padStart(10)} ${"p90 ms".padStart(8)}`);
  for (const n of [10, 100, 300]) {
    const rand = seededRandom(n);
    const walkers = Array.from({ length: n }, () => ({
      x: rand() * 1920,
      y: 200 + rand() * 800,
      vx: (rand() - 0.5) * 12,
      vy: (rand() - 0.5) * 8,
      label: rand() < 0.8 ? "person" : "car",
    }));
    const tracker = new ByteTracker();
    const modes = new ModeOfTravel();
    const lines = [
      new LineCounter({
        name: "a",
        points: [
          { x: 960, y: 0 },
          { x: 960, y: 1080 },
        ],
        from: "w",
        to: "e",
      }),
      new LineCounter({
        name: "b",
        points: [
          { x: 0, y: 600 },
          { x: 1920, y: 600 },
        ],
        from: "n",
        to: "s",
      }),
    ];
    const zone = new ZoneCounter({
      name: "z",
      polygon: [
        { x: 400, y: 300 },
        { x: 1500, y: 300 },
        { x: 1500, y: 900 },
        { x: 400, y: 900 },
      ],
      dwellThresholdSec: 30,
    });
    const times: number[] = [];
    for (let f = 0; f < 600; f++) {
      const dets: Detection[] = walkers.map((w) => {
        w.x = (w.x + w.vx + 1920) % 1920;
        w.y = Math.min(1050, Math.max(150, w.y + w.vy));
        const h = w.label === "person" ? 90 : 70;
        const wd = w.label === "person" ? 35 : 120;
        return {
          classId: 0,
          label: w.label,
          score: 0.6 + 0.4 * rand(),
          box: { x1: w.x - wd / 2, y1: w.y - h, x2: w.x + wd / 2, y2: w.y },
        };
      });
      const t0 = performance.now();
      const u = tracker.update(dets, f * 100);
      const users = modes.update(u);
      const removed = u.removed.map((t) => t.id);
      for (const l of lines) l.update(users, f * 100, removed);
      zone.update(users, f * 100, removed);
      if (f >= 50) times.push(performance.now() - t0);
    }
    const s = stats(times);
    console.log(`${String(n).padEnd(8)} ${f(s.median).padStart(10)} ${f(s.p90).padStart(8)}`);
  }
}

/** The PETS clip re-encoded as H.264 at a camera resolution; `limit` bounds its length (ffmpeg args). */
function petsClipH264(out: string, width: number, height: number, limit: string[]): string {
  spawnSync("ffmpeg", [
    "-v",
    "error",
    "-i",
    `${DATA_DIR}/pets09-s2l1/pets09-s2l1.avi`,
    ...limit,
    "-vf",
    `scale=${width}:${height}`,
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-pix_fmt",
    "yuv420p",
    "-y",
    out,
  ]);
  return out;
}

/** A device running YOLOX-Nano on `camera` with one vertical line, storing to `dbPath`, no MQTT or API. */
function benchConfig(
  id: string,
  camera: Record<string, unknown>,
  threads: number,
  dbPath: string,
  extra = {},
) {
  return parseConfig(
    {
      device: { id, location: { latitude: 0, longitude: 0 } },
      // the whole view is scaled to the model's input, as for the figures measured before the
      // detection region around the lines became the default (a crop leaves ffmpeg less to scale)
      camera: { region: "whole", ...camera },
      model: { id: "yolox-nano", dir: MODEL_DIR, threads },
      lines: [
        {
          name: "a",
          points: [
            [0.5, 1],
            [0.5, 0],
          ],
        },
      ],
      storage: { path: dbPath },
      mqtt: { enabled: false },
      api: { enabled: false },
      ...extra,
    },
    id,
    {},
  );
}

/** CPU seconds of this process and of its finished children (ffmpeg), from /proc. */
function cpuSeconds(): number {
  const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  const tick = 100; // USER_HZ
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / tick;
}

async function benchPipeline(): Promise<void> {
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "bench-pipe-"));
  const seconds = Number(args.seconds);
  const threads = Number(args.threads) || 1;
  console.log(
    `\n## pipeline: counter run on the PETS clip scaled to 720p and 1080p (H.264), ${seconds} s of video, model threads=${threads}`,
  );
  const bare = await OnnxDetector.load(
    detectorOptionsFrom(benchConfig("bare", { source: "x.mp4" }, threads, join(dir, "bare.db")).model),
  );
  for (let i = 0; i < 20; i++) await bare.runModelOnly(); // warm-up
  /**
   * The model alone, back to back for 3 s, measured again before each clip (this machine's speed
   * drifts over minutes). Throughput, frames ÷ time, is what processed fps is set against: both
   * then carry the same occasional slow runs (a bare run's mean is 1-2 % above its median here).
   */
  const measureBare = async () => {
    const runs: number[] = [];
    const start = performance.now();
    while (performance.now() - start < 3000) {
      const t = performance.now();
      await bare.runModelOnly();
      runs.push(performance.now() - t);
    }
    const fps = (runs.length * 1000) / (performance.now() - start);
    const medianMs = stats(runs).median;
    const medianFps = 1000 / medianMs;
    console.log(
      `bare yolox-nano inference, ${threads} thread(s), ${runs.length} runs back to back: ${fps.toFixed(1)} fps (median run ${medianMs.toFixed(2)} ms = ${medianFps.toFixed(1)} fps)`,
    );
    return { fps, medianFps };
  };
  const { get } = await import("node:http");
  const { spawn } = await import("node:child_process");
  const { freePort } = await import("../test/helpers/brokers.ts");
  /** One GET /health; milliseconds until the whole answer arrived. */
  const health = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const t = performance.now();
      get({ host: "127.0.0.1", port, path: "/health" }, (res) => {
        res.resume();
        res.on("end", () => resolve(performance.now() - t));
      }).on("error", reject);
    });
  for (const [w, h] of [
    [1280, 720],
    [1920, 1080],
  ] as const) {
    const clip = petsClipH264(join(dir, `pets-${h}p.mp4`), w, h, ["-t", String((seconds * 10) / 7)]);
    const { fps: bareFps, medianFps: bareMedianFps } = await measureBare();
    for (const inference of ["main-thread", "worker"] as const) {
      // Each configuration runs in a process of its own, as a deployed counter does: in one shared
      // process the garbage of the runs before (in-thread inference allocates per frame) cost the next
      // run's event loop extra full collections. The /health client asks from here, another process,
      // as a monitoring system would.
      const port = await freePort();
      const child = spawn(
        process.execPath,
        [
          ...process.execArgv,
          process.argv[1] as string,
          "--section",
          "pipeline-run",
          "--clip",
          clip,
          "--inference",
          inference,
          "--threads",
          String(threads),
          "--port",
          String(port),
          "--db",
          join(dir, `b${h}-${inference}.db`),
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      let running = true;
      void exited.then(() => {
        running = false;
      });
      const healthMs: number[] = [];
      const poller = (async () => {
        while (running && args["health-client"] !== "off") {
          // refused until the API is up, and again once the replay ended and the API closed
          const ms = await health(port).catch(() => undefined);
          if (ms !== undefined && out.includes("counting\n")) healthMs.push(ms);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const code = await exited;
      await poller;
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (code !== 0 || !line)
        throw new Error(`pipeline run (${h}p, ${inference}) failed with ${code}: ${out}`);
      const r = JSON.parse(line) as PipelineRunResult;
      console.log(
        `${h}p, inference on the ${inference}: ${r.frames} frames in ${r.wallSec.toFixed(1)} s = ${(r.frames / r.wallSec).toFixed(1)} fps processed (${(r.frames / r.wallSec / bareFps).toFixed(2)}x bare; from the 30th frame to the last ${r.steadyFps.toFixed(1)} fps, ${(r.steadyFps / bareFps).toFixed(2)}x, ${(r.steadyFps / bareMedianFps).toFixed(2)}x the median run), CPU ${r.cpuPercent.toFixed(0)} % of one core (node + ffmpeg), peak RSS ${r.peakRssMb.toFixed(0)} MB`,
      );
      console.log(
        `  event loop delay p99: ${r.loopP99Ms.toFixed(1)} ms (max ${r.loopMaxMs.toFixed(1)}); after the first 30 frames p99 ${r.steadyP99Ms.toFixed(1)} ms (max ${r.steadyMaxMs.toFixed(1)})${
          healthMs.length > 0
            ? `; /health while counting (from another process): median ${stats(healthMs).median.toFixed(1)} ms, p99 ${percentileOf(healthMs, 99).toFixed(1)} ms over ${healthMs.length} requests`
            : ""
        }`,
      );
    }
  }
  await bare.release();
}

interface PipelineRunResult {
  frames: number;
  wallSec: number;
  cpuPercent: number;
  peakRssMb: number;
  loopP99Ms: number;
  loopMaxMs: number;
  steadyP99Ms: number;
  steadyMaxMs: number;
  /** Frames per second from the 30th frame to the last: without ffmpeg's start and the shutdown. */
  steadyFps: number;
}

/** One configuration of the pipeline section, in a child process; prints its figures as JSON. */
async function benchPipelineRun(): Promise<void> {
  const { createLogger } = await import("../edge/app/logger.ts");
  const { startCounter } = await import("../edge/app/run.ts");
  const { monitorEventLoopDelay } = await import("node:perf_hooks");
  const threads = Number(args.threads) || 1;
  const inference = args.inference === "main-thread" ? "main-thread" : "worker";
  const config = benchConfig(
    "bench",
    { source: args.clip, mode: "replay", replayFps: 7 },
    threads,
    args.db as string,
    {
      api: { enabled: true, port: Number(args.port) },
      model: { id: "yolox-nano", dir: MODEL_DIR, threads, inference },
    },
  );
  let frames = 0;
  let steadyFrom = 0;
  let lastFrameAt = 0;
  // the event loop measured twice: from the start, and in the steady state after the first
  // 30 frames (the worker's start-up and the JIT compiling the frame loop are not counting)
  const steady = monitorEventLoopDelay({ resolution: 1 });
  const handle = await startCounter(config, {
    log: createLogger("warn"),
    version: "bench",
    onFrame: () => {
      lastFrameAt = performance.now();
      if (++frames === 30) {
        steady.enable();
        steadyFrom = lastFrameAt;
      }
    },
  });
  process.stdout.write("counting\n");
  let peakRss = 0;
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  await handle.done;
  loop.disable();
  steady.disable();
  clearInterval(sampler);
  const wallSec = (performance.now() - t0) / 1000;
  const result: PipelineRunResult = {
    frames,
    wallSec,
    cpuPercent: ((cpuSeconds() - c0) / wallSec) * 100,
    peakRssMb: peakRss / 1048576,
    loopP99Ms: loop.percentile(99) / 1e6,
    loopMaxMs: loop.max / 1e6,
    steadyP99Ms: steady.percentile(99) / 1e6,
    steadyMaxMs: steady.max / 1e6,
    steadyFps: ((frames - 30) * 1000) / (lastFrameAt - steadyFrom),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/**
 * Set-up mode's cost: the same replay with set-up off and on (a page subscribed to live positions
 * and fetching the preview every 4 s, as the page does), alternating, medians of the runs.
 */
async function benchSetup(): Promise<void> {
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { createLogger } = await import("../edge/app/logger.ts");
  const { startCounter } = await import("../edge/app/run.ts");
  const dir = mkdtempSync(join(tmpdir(), "bench-setup-"));
  const seconds = Number(args.seconds);
  const threads = Number(args.threads) || 1;
  const repeats = Number(args.repeats);
  console.log(
    `\n## set-up mode: counter run on the PETS clip at 720p (H.264), ${seconds} s of video, worker inference, threads=${threads}, ${repeats} runs each`,
  );
  const clip = petsClipH264(join(dir, "pets-720p.mp4"), 1280, 720, ["-t", String((seconds * 10) / 7)]);
  const fps: Record<"off" | "on", number[]> = { off: [], on: [] };
  let liveMessages = 0;
  for (let r = 0; r < repeats; r++) {
    for (const mode of ["off", "on"] as const) {
      const config = benchConfig(
        "bench-setup",
        { source: clip, mode: "replay", replayFps: 7 },
        threads,
        join(dir, `s${r}${mode}.db`),
      );
      let frames = 0;
      const handle = await startCounter(config, {
        log: createLogger("warn"),
        version: "bench",
        onFrame: () => {
          frames++;
        },
      });
      let previews: NodeJS.Timeout | undefined;
      if (mode === "on") {
        const setup = handle.runtime.setup;
        setup.start();
        setup.subscribe(
          () => liveMessages++,
          () => {},
        );
        previews = setInterval(() => void setup.background(), 4000);
      }
      const t0 = performance.now();
      await handle.done;
      const wall = (performance.now() - t0) / 1000;
      clearInterval(previews);
      fps[mode].push(frames / wall);
    }
  }
  const off = stats(fps.off).median;
  const on = stats(fps.on).median;
  console.log(
    `set-up off: ${off.toFixed(1)} fps; on: ${on.toFixed(1)} fps (${((1 - on / off) * 100).toFixed(1)} % fewer; runs off ${fps.off.map((f) => f.toFixed(1)).join(", ")}, on ${fps.on.map((f) => f.toFixed(1)).join(", ")}); ${liveMessages} live-position messages`,
  );
}

async function benchSoak(): Promise<void> {
  const minutes = Number(args.minutes);
  const { join } = await import("node:path");
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { CounterRuntime } = await import("../edge/app/runtime.ts");
  const { createLogger } = await import("../edge/app/logger.ts");
  const dir = mkdtempSync(join(tmpdir(), "bench-soak-"));
  console.log(`\n## soak: counter run live on the PETS clip (looping), ${minutes} min`);
  const config = benchConfig(
    "soak",
    { source: `${DATA_DIR}/pets09-s2l1/pets09-s2l1.avi`, mode: "live", fps: 7, reconnectMinSec: 0.1 },
    Number(args.threads) || 1,
    join(dir, "soak.db"),
    {
      zones: [
        {
          name: "z",
          polygon: [
            [0.2, 0.2],
            [0.8, 0.2],
            [0.8, 0.8],
            [0.2, 0.8],
          ],
        },
      ],
      aggregation: { periodSec: 60 },
    },
  );
  const rt = new CounterRuntime(config, { log: createLogger("warn"), version: "soak" });
  await rt.start();
  const done = rt.run();
  // RSS, V8 heap and off-heap (ArrayBuffers: frames, tensors) every 10 s; a line every 5 minutes, so
  // a leak shows as a trend in one of the three rather than a single end-to-end difference
  const samples: { atMin: number; rss: number; heap: number; buffers: number }[] = [];
  const started = Date.now();
  const end = started + minutes * 60_000;
  const mb = (v: number) => (v / 1048576).toFixed(1);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log("| minute | RSS MB | V8 heap used MB | ArrayBuffers MB |\n|---|---|---|---|");
  let nextReport = 0;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 10_000));
    const m = process.memoryUsage();
    const atMin = (Date.now() - started) / 60_000;
    samples.push({ atMin, rss: m.rss, heap: m.heapUsed, buffers: m.arrayBuffers });
    if (atMin >= nextReport) {
      console.log(`| ${atMin.toFixed(0)} | ${mb(m.rss)} | ${mb(m.heapUsed)} | ${mb(m.arrayBuffers)} |`);
      nextReport += 5;
    }
  }
  rt.requestStop();
  await done;
  await rt.shutdown(0);
  // medians of minutes 1-3 (after warm-up) and of the last 3 minutes
  const early = samples.filter((s) => s.atMin >= 1 && s.atMin < 3).map((s) => s.rss);
  const late = samples.filter((s) => s.atMin >= minutes - 3).map((s) => s.rss);
  const first = median(early.length ? early : [samples[0]!.rss]);
  const last = median(late.length ? late : [samples.at(-1)!.rss]);
  console.log(
    `RSS median minutes 1-3 ${mb(first)} MB, last 3 minutes ${mb(last)} MB, drift ${(((last - first) / first) * 100).toFixed(1)} % over ${minutes} min`,
  );
}

/**
 * Capture cost per frame: ffmpeg decoding H.264 and writing either raw RGB scaled to the detector's
 * input (what the capture stage does) or MJPEG at camera size (what a JPEG path would hand over),
 * plus, for MJPEG, the detector-side decode + resize that raw frames do not need.
 */
async function benchCapture(): Promise<void> {
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "bench-cap-"));
  console.log(
    "\n## capture: CPU ms per frame (ffmpeg user+sys, one decoding thread), 140 frames of the PETS clip",
  );
  console.log(
    `${"input".padEnd(7)} ${"raw rgb 416 (ffmpeg)".padStart(22)} ${"mjpeg (ffmpeg)".padStart(15)} ${"+ jpeg decode (sharp)".padStart(22)} ${"mjpeg total".padStart(12)}`,
  );
  const cpuOf = (args: string[]) => {
    const r = spawnSync(
      "bash",
      ["-c", `TIMEFORMAT='%U %S'; { time ffmpeg ${args.join(" ")} > /dev/null 2>/dev/null ; } 2>&1`],
      { encoding: "utf8" },
    );
    const [u, sy] = r.stdout.trim().split(/\s+/).slice(-2).map(Number);
    return (u! + sy!) * 1000;
  };
  for (const [w, h] of [
    [1280, 720],
    [1920, 1080],
  ] as const) {
    const clip = petsClipH264(join(dir, `c${h}.mp4`), w, h, ["-frames:v", "140"]);
    const base = ["-v", "error", "-threads", "1", "-i", clip, "-an"];
    const raw =
      cpuOf([
        ...base,
        "-vf",
        "scale=416:416:force_original_aspect_ratio=decrease",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
      ]) / 140;
    const mjpeg = cpuOf([...base, "-f", "mjpeg", "-q:v", "5", "-"]) / 140;
    const jpeg = await sharp(readFileSync(`${DATA_DIR}/images/street.jpg`))
      .resize(w, h, { fit: "cover" })
      .jpeg({ quality: 85 })
      .toBuffer();
    const dec: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t = performance.now();
      await sharp(jpeg).resize(416, 234, { fit: "fill", kernel: "linear" }).raw().toBuffer();
      dec.push(performance.now() - t);
    }
    const d = stats(dec).median;
    console.log(
      `${`${h}p`.padEnd(7)} ${f(raw).padStart(22)} ${f(mjpeg).padStart(15)} ${f(d).padStart(22)} ${f(mjpeg + d).padStart(12)}`,
    );
  }
}

/**
 * Counting while a dashboard reads a 30-day history (43,200 intervals at 60 s): the same replay
 * without and with four clients polling /api/counts (hourly buckets, a raw page, a CSV page) in a loop.
 */
async function benchHistory(): Promise<void> {
  const { mkdtempSync, copyFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { monitorEventLoopDelay } = await import("node:perf_hooks");
  const { startCounter } = await import("../edge/app/run.ts");
  const { createLogger } = await import("../edge/app/logger.ts");
  const { CountStore } = await import("../edge/store/store.ts");
  const dir = mkdtempSync(join(tmpdir(), "bench-hist-"));
  const seconds = Number(args.seconds);
  const threads = Number(args.threads) || 1;
  const period = 60_000;
  const days = 30;
  const n = (days * 86_400_000) / period;
  const end = Math.floor(Date.now() / period) * period - 2 * period;
  const seed = join(dir, "seed.db");
  const store = new CountStore(seed);
  const modes = ["pedestrian", "cyclist", "car", "bus", "truck"];
  const rand = seededRandom(7);
  // built in chunks: 43,200 interval objects at once would inflate the RSS being measured
  for (let i0 = 0; i0 < n; i0 += 5000) store.commitRecovered(seedIntervals(i0, Math.min(n, i0 + 5000)));
  store.close();
  function seedIntervals(a: number, b: number) {
    return Array.from({ length: b - a }, (_, k) => {
      const i = a + k;
      const startMs = end - (n - i) * period;
      return {
        counts: {
          deviceId: "bench-hist",
          startMs,
          endMs: startMs + period,
          partial: false,
          quality: {
            coverageSec: 60,
            framesProcessed: 600,
            meanFps: 10,
            framesDropped: 0,
            framesCorrupt: 0,
            cameraStateChanges: 0,
            cameraDownSec: 0,
            geometryChanged: false,
          },
          lines: ["a", "b"].flatMap((line) =>
            modes.flatMap((mode) => [
              { line, from: "A", to: "B", mode, count: Math.floor(rand() * 4) },
              { line, from: "B", to: "A", mode, count: Math.floor(rand() * 4) },
            ]),
          ),
          zones: modes.map((mode) => ({
            zone: "square",
            mode,
            entries: 1,
            exits: 1,
            occupancyMean: rand() * 3,
            occupancyMax: 3,
            staying: 0,
            passing: 1,
            dwellP50Sec: 12,
            dwellP90Sec: 30,
          })),
        },
        entry: { seq: i + 1, messageId: `h${i}`, topic: "t", payload: "{}" },
        pending: false,
      };
    });
  }
  console.log(
    `\n## history: counting (720p replay, ${seconds} s of video, ${threads} thread(s)) while 4 clients poll a ${days}-day history (${n} intervals)`,
  );
  const clip = petsClipH264(join(dir, "pets-720p.mp4"), 1280, 720, ["-t", String((seconds * 10) / 7)]);
  const from = end - days * 86_400_000;
  const queries = [
    `/api/counts?from=${from}&resolution=1h`,
    `/api/counts?from=${from}&limit=1000`,
    `/api/counts?from=${from}&limit=1000&format=csv`,
  ];
  for (const polling of [false, true, false, true]) {
    const db = join(dir, `run-${Date.now()}.db`);
    copyFileSync(seed, db);
    const config = benchConfig("bench-hist", { source: clip, mode: "replay", replayFps: 7 }, threads, db, {
      api: { enabled: true, host: "127.0.0.1", port: 0 },
    });
    const loop = monitorEventLoopDelay({ resolution: 5 });
    let lastFrameAt = 0;
    const handle = await startCounter(config, {
      log: createLogger("warn"),
      version: "bench",
      onFrame: () => {
        lastFrameAt = performance.now();
      },
    });
    const port = (handle.api!.server.address() as { port: number }).port;
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
    const latencies: number[] = [];
    let bytes = 0;
    let running = true;
    const clients = polling
      ? Array.from({ length: 4 }, async (_, c) => {
          for (let k = 0; running && k < 10_000; k++) {
            const t = performance.now();
            try {
              const r = await fetch(`http://127.0.0.1:${port}${queries[(c + k) % queries.length]}`);
              bytes += (await r.arrayBuffer()).byteLength;
            } catch {
              break; // the replay ended and the API closed under the request
            }
            latencies.push(performance.now() - t);
          }
        })
      : [];
    loop.enable();
    const t0 = performance.now();
    await handle.done.catch(() => {});
    const wall = (lastFrameAt - t0) / 1000;
    loop.disable();
    running = false;
    await Promise.allSettled(clients);
    clearInterval(sampler);
    const frames = (await handle.runtime.metrics.framesProcessed.get()).values[0]?.value ?? 0;
    const lat = latencies.length > 0 ? stats(latencies) : undefined;
    console.log(
      `${polling ? "4 clients polling" : "no polling       "}: ${(frames / wall).toFixed(1)} fps processed, peak RSS ${(peakRss / 1048576).toFixed(0)} MB, event loop delay p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms${lat ? `, ${latencies.length} requests (${(bytes / 1048576).toFixed(0)} MB), latency median ${lat.median.toFixed(0)} ms p90 ${lat.p90.toFixed(0)} ms` : ""}`,
    );
  }
}

const sections: Record<string, () => Promise<void>> = {
  detect: benchDetect,
  track: benchTrack,
  capture: benchCapture,
  pipeline: benchPipeline,
  setup: benchSetup,
  history: benchHistory,
};
if (args.minutes) sections.soak = benchSoak;
console.log(
  `# bench on ${process.platform}/${process.arch}, node ${process.version}, ${(await import("node:os")).cpus().length} cores`,
);
// `pipeline-run` is one configuration of the pipeline section, in the child process it starts
if (args.section === "pipeline-run") await benchPipelineRun();
for (const [name, fn] of Object.entries(sections)) {
  if (args.section === "all" || args.section === name || (name === "soak" && args.minutes)) await fn();
}
