import { seededRandom } from "../../edge/domain/random.ts";
import type { Detection } from "../../edge/domain/types.ts";
import { Pipeline } from "../../edge/pipeline/pipeline.ts";
import { benchConfig } from "./inputs.ts";
import type { BenchOptions } from "./options.ts";
import { medianAndP90, msColumn } from "./stats.ts";

const SCENE = { width: 1920, height: 1080 };
const FRAME_MS = 100;
const FRAMES = 600;
/** Frames before timing starts: the tracker's first tracks and the JIT warming up. */
const UNTIMED_FRAMES = 50;

/**
 * The counting core per frame: `Pipeline.step` built from a device configuration as `counter run`
 * builds it (tracker, mode of travel, 2 lines and 1 zone, interval aggregator), on a synthetic
 * scene of walkers and cars moving at random.
 */
export async function benchTrack(_options: BenchOptions): Promise<void> {
  console.log(
    `\n## track + count: Pipeline.step (tracker, mode of travel, 2 lines and 1 zone, aggregator) per frame; ${SCENE.width}x${SCENE.height} scene, ${1000 / FRAME_MS} fps`,
  );
  console.log(`${"objects".padEnd(8)} ${"median ms".padStart(10)} ${"p90 ms".padStart(8)}`);
  for (const objects of [10, 100, 300]) {
    const rand = seededRandom(objects);
    const walkers = Array.from({ length: objects }, () => ({
      x: rand() * SCENE.width,
      y: 200 + rand() * 800,
      vx: (rand() - 0.5) * 12,
      vy: (rand() - 0.5) * 8,
      label: rand() < 0.8 ? "person" : "car",
    }));
    const pipeline = Pipeline.fromConfig(countingConfig());
    const stepMs: number[] = [];
    for (let frame = 0; frame < FRAMES; frame++) {
      const detections: Detection[] = walkers.map((w) => {
        w.x = (w.x + w.vx + SCENE.width) % SCENE.width;
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
      pipeline.step({ tsMs: frame * FRAME_MS, ...SCENE }, detections);
      if (frame >= UNTIMED_FRAMES) stepMs.push(performance.now() - t0);
    }
    const { median, p90 } = medianAndP90(stepMs);
    console.log(`${String(objects).padEnd(8)} ${msColumn(median, 10)} ${msColumn(p90, 8)}`);
  }
}

/** A vertical line through the middle, a horizontal one at y = 600 px and a zone of 1100 × 600 px. */
function countingConfig() {
  const x = (px: number) => px / SCENE.width;
  const y = (px: number) => px / SCENE.height;
  return benchConfig("bench-track", { source: "none.mp4", fps: 1000 / FRAME_MS }, 1, "unused.db", {
    lines: [
      {
        name: "a",
        points: [
          [x(960), y(0)],
          [x(960), y(1080)],
        ],
        from: "w",
        to: "e",
      },
      {
        name: "b",
        points: [
          [x(0), y(600)],
          [x(1920), y(600)],
        ],
        from: "n",
        to: "s",
      },
    ],
    zones: [
      {
        name: "z",
        polygon: [
          [x(400), y(300)],
          [x(1500), y(300)],
          [x(1500), y(900)],
          [x(400), y(900)],
        ],
        dwellThresholdSec: 30,
      },
    ],
  });
}
