import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../edge/app/logger.ts";
import { startCounter } from "../../edge/app/run.ts";
import { benchConfig, petsClipH264 } from "./inputs.ts";
import { type BenchOptions, counterThreads } from "./options.ts";
import { median } from "./stats.ts";

/**
 * Set-up mode's cost: the same replay with set-up off and on (a page subscribed to live positions
 * and fetching the preview every 4 s, as the page does), alternating, medians of the runs.
 */
export async function benchSetup(options: BenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-setup-"));
  const { seconds, repeats } = options;
  const threads = counterThreads(options);
  console.log(
    `\n## set-up mode: counter run on the PETS clip at 720p (H.264), ${seconds} s of video, worker inference, threads=${threads}, ${repeats} runs each`,
  );
  const clip = petsClipH264(join(dir, "pets-720p.mp4"), 1280, 720, ["-t", String((seconds * 10) / 7)]);
  const fps: Record<"off" | "on", number[]> = { off: [], on: [] };
  let liveMessages = 0;
  for (let run = 0; run < repeats; run++) {
    for (const mode of ["off", "on"] as const) {
      const config = benchConfig(
        "bench-setup",
        { source: clip, mode: "replay", replayFps: 7 },
        threads,
        join(dir, `s${run}${mode}.db`),
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
      const wallSec = (performance.now() - t0) / 1000;
      clearInterval(previews);
      fps[mode].push(frames / wallSec);
    }
  }
  const off = median(fps.off);
  const on = median(fps.on);
  const listed = (runs: number[]) => runs.map((v) => v.toFixed(1)).join(", ");
  console.log(
    `set-up off: ${off.toFixed(1)} fps; on: ${on.toFixed(1)} fps (${((1 - on / off) * 100).toFixed(1)} % fewer; runs off ${listed(fps.off)}, on ${listed(fps.on)}); ${liveMessages} live-position messages`,
  );
}
