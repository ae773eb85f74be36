import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createLogger } from "../../edge/app/logger.ts";
import { startCounter } from "../../edge/app/run.ts";
import { seededRandom } from "../../edge/domain/random.ts";
import { CountStore } from "../../edge/store/store.ts";
import { benchConfig, petsClipH264 } from "./inputs.ts";
import { type BenchOptions, counterThreads } from "./options.ts";
import { formatMb, medianAndP90 } from "./stats.ts";

const PERIOD_MS = 60_000;
const DAYS = 30;
const INTERVALS = (DAYS * 86_400_000) / PERIOD_MS;
const MODES = ["pedestrian", "cyclist", "car", "bus", "truck"];

/** Intervals `first` … `end - 1` of the seeded history, the last of them ending at `endMs`. */
function seedIntervals(first: number, end: number, endMs: number, rand: () => number) {
  return Array.from({ length: end - first }, (_, k) => {
    const i = first + k;
    const startMs = endMs - (INTERVALS - i) * PERIOD_MS;
    return {
      counts: {
        deviceId: "bench-hist",
        startMs,
        endMs: startMs + PERIOD_MS,
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
          MODES.flatMap((mode) => [
            { line, from: "A", to: "B", mode, count: Math.floor(rand() * 4) },
            { line, from: "B", to: "A", mode, count: Math.floor(rand() * 4) },
          ]),
        ),
        zones: MODES.map((mode) => ({
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

/**
 * Counting while a dashboard reads a 30-day history (43,200 intervals at 60 s): the same replay
 * without and with four clients polling /api/counts (hourly buckets, a raw page, a CSV page) in a loop.
 */
export async function benchHistory(options: BenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-hist-"));
  const { seconds } = options;
  const threads = counterThreads(options);
  const endMs = Math.floor(Date.now() / PERIOD_MS) * PERIOD_MS - 2 * PERIOD_MS;
  const seed = join(dir, "seed.db");
  const store = new CountStore(seed);
  const rand = seededRandom(7);
  // built in chunks: 43,200 interval objects at once would inflate the RSS being measured
  for (let first = 0; first < INTERVALS; first += 5000)
    store.commitRecovered(seedIntervals(first, Math.min(INTERVALS, first + 5000), endMs, rand));
  store.close();
  console.log(
    `\n## history: counting (720p replay, ${seconds} s of video, ${threads} thread(s)) while 4 clients poll a ${DAYS}-day history (${INTERVALS} intervals)`,
  );
  const clip = petsClipH264(join(dir, "pets-720p.mp4"), 1280, 720, ["-t", String((seconds * 10) / 7)]);
  const from = endMs - DAYS * 86_400_000;
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
    const wallSec = (lastFrameAt - t0) / 1000;
    loop.disable();
    running = false;
    await Promise.allSettled(clients);
    clearInterval(sampler);
    const frames = (await handle.runtime.metrics.framesProcessed.get()).values[0]?.value ?? 0;
    const latency = latencies.length > 0 ? medianAndP90(latencies) : undefined;
    console.log(
      `${polling ? "4 clients polling" : "no polling       "}: ${(frames / wallSec).toFixed(1)} fps processed, peak RSS ${formatMb(peakRss)} MB, event loop delay p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms${latency ? `, ${latencies.length} requests (${formatMb(bytes)} MB), latency median ${latency.median.toFixed(0)} ms p90 ${latency.p90.toFixed(0)} ms` : ""}`,
    );
  }
}
