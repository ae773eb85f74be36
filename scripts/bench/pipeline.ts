import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { detectorOptionsFrom } from "../../edge/detect/load-detector.ts";
import { OnnxDetector } from "../../edge/detect/onnx-detector.ts";
import { freePort } from "../../test/helpers/brokers.ts";
import { benchConfig, petsClipH264 } from "./inputs.ts";
import { type BenchOptions, counterThreads } from "./options.ts";
import { COUNTING_LINE, type PipelineRunResult } from "./pipeline-run.ts";
import { median, percentile } from "./stats.ts";

/** The bench's entry, started again as the child process of each configuration. */
const BENCH_ENTRY = fileURLToPath(new URL("../bench.ts", import.meta.url));

/** One GET /health; milliseconds until the whole answer arrived. */
function healthRequestMs(port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const t = performance.now();
    get({ host: "127.0.0.1", port, path: "/health" }, (res) => {
      res.resume();
      res.on("end", () => resolve(performance.now() - t));
    }).on("error", reject);
  });
}

/**
 * `counter run` replaying the PETS clip at 720p and 1080p, inference on the main thread and in the
 * worker, each configuration in a process of its own; set against bare model throughput.
 */
export async function benchPipeline(options: BenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-pipe-"));
  const { seconds } = options;
  const threads = counterThreads(options);
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
    const medianMs = median(runs);
    const medianFps = 1000 / medianMs;
    console.log(
      `bare yolox-nano inference, ${threads} thread(s), ${runs.length} runs back to back: ${fps.toFixed(1)} fps (median run ${medianMs.toFixed(2)} ms = ${medianFps.toFixed(1)} fps)`,
    );
    return { fps, medianFps };
  };
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
          BENCH_ENTRY,
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
        while (running && options.healthClient) {
          // refused until the API is up, and again once the replay ended and the API closed
          const ms = await healthRequestMs(port).catch(() => undefined);
          if (ms !== undefined && out.includes(`${COUNTING_LINE}\n`)) healthMs.push(ms);
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
            ? `; /health while counting (from another process): median ${median(healthMs).toFixed(1)} ms, p99 ${percentile(healthMs, 99).toFixed(1)} ms over ${healthMs.length} requests`
            : ""
        }`,
      );
    }
  }
  await bare.release();
}
