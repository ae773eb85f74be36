import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../edge/app/logger.ts";
import { CounterRuntime } from "../../edge/app/runtime.ts";
import { benchConfig, DATA_DIR } from "./inputs.ts";
import { type BenchOptions, counterThreads } from "./options.ts";
import { formatMb, median } from "./stats.ts";

/** `counter run` live on the looping PETS clip for `--minutes`; memory over time, to show a leak as a trend. */
export async function benchSoak(options: BenchOptions): Promise<void> {
  const minutes = options.minutes;
  if (minutes === undefined) throw new Error("the soak section needs --minutes N");
  const dir = mkdtempSync(join(tmpdir(), "bench-soak-"));
  console.log(`\n## soak: counter run live on the PETS clip (looping), ${minutes} min`);
  const config = benchConfig(
    "soak",
    { source: `${DATA_DIR}/pets09-s2l1/pets09-s2l1.avi`, mode: "live", fps: 7, reconnectMinSec: 0.1 },
    counterThreads(options),
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
  const runtime = new CounterRuntime(config, { log: createLogger("warn"), version: "soak" });
  await runtime.start();
  const done = runtime.run();
  // RSS, V8 heap and off-heap (ArrayBuffers: frames, tensors) every 10 s; a line every 5 minutes, so
  // a leak shows as a trend in one of the three rather than a single end-to-end difference
  const samples: { atMin: number; rss: number; heap: number; buffers: number }[] = [];
  const started = Date.now();
  const end = started + minutes * 60_000;
  console.log("| minute | RSS MB | V8 heap used MB | ArrayBuffers MB |\n|---|---|---|---|");
  let nextReport = 0;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 10_000));
    const m = process.memoryUsage();
    const atMin = (Date.now() - started) / 60_000;
    samples.push({ atMin, rss: m.rss, heap: m.heapUsed, buffers: m.arrayBuffers });
    if (atMin >= nextReport) {
      console.log(
        `| ${atMin.toFixed(0)} | ${formatMb(m.rss, 1)} | ${formatMb(m.heapUsed, 1)} | ${formatMb(m.arrayBuffers, 1)} |`,
      );
      nextReport += 5;
    }
  }
  runtime.requestStop();
  await done;
  await runtime.shutdown(0);
  // medians of minutes 1-3 (after warm-up) and of the last 3 minutes
  const early = samples.filter((s) => s.atMin >= 1 && s.atMin < 3).map((s) => s.rss);
  const late = samples.filter((s) => s.atMin >= minutes - 3).map((s) => s.rss);
  const first = median(early.length ? early : [samples[0]!.rss]);
  const last = median(late.length ? late : [samples.at(-1)!.rss]);
  console.log(
    `RSS median minutes 1-3 ${formatMb(first, 1)} MB, last 3 minutes ${formatMb(last, 1)} MB, drift ${(((last - first) / first) * 100).toFixed(1)} % over ${minutes} min`,
  );
}
