import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createLogger } from "../../edge/app/logger.ts";
import { startCounter } from "../../edge/app/run.ts";
import { benchConfig, MODEL_DIR } from "./inputs.ts";
import { type BenchOptions, counterThreads } from "./options.ts";
import { bytesToMb } from "./stats.ts";

/** What one configuration of the pipeline section measured, printed as one JSON line. */
export interface PipelineRunResult {
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

/** Printed once the counter runs: from then on the parent's /health answers count. */
export const COUNTING_LINE = "counting";

/** Frames before the steady state: the worker's start-up and the JIT compiling the frame loop. */
const START_FRAMES = 30;

/** CPU seconds of this process and of its finished children (ffmpeg), from /proc. */
function cpuSeconds(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  const ticksPerSecond = 100; // USER_HZ
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / ticksPerSecond;
}

/**
 * One configuration of the pipeline section (`--section pipeline-run`, in the child process the
 * section starts): `counter run` replaying the clip with the local API on; prints its figures as JSON.
 */
export async function benchPipelineRun(options: BenchOptions): Promise<void> {
  const run = options.pipelineRun;
  if (!run) throw new Error("--section pipeline-run needs --clip, --port and --db");
  const threads = counterThreads(options);
  const config = benchConfig("bench", { source: run.clip, mode: "replay", replayFps: 7 }, threads, run.db, {
    api: { enabled: true, port: run.port },
    model: { id: "yolox-nano", dir: MODEL_DIR, threads, inference: run.inference },
  });
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
      if (++frames === START_FRAMES) {
        steady.enable();
        steadyFrom = lastFrameAt;
      }
    },
  });
  process.stdout.write(`${COUNTING_LINE}\n`);
  let peakRss = 0;
  const t0 = performance.now();
  const cpu0 = cpuSeconds();
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
    cpuPercent: ((cpuSeconds() - cpu0) / wallSec) * 100,
    peakRssMb: bytesToMb(peakRss),
    loopP99Ms: loop.percentile(99) / 1e6,
    loopMaxMs: loop.max / 1e6,
    steadyP99Ms: steady.percentile(99) / 1e6,
    steadyMaxMs: steady.max / 1e6,
    steadyFps: ((frames - START_FRAMES) * 1000) / (lastFrameAt - steadyFrom),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
