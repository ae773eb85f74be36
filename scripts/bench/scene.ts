import { execFileSync } from "node:child_process";
import { SceneCheck } from "../../edge/scene/scene-check.ts";
import { DATA_DIR } from "./inputs.ts";
import type { BenchOptions } from "./options.ts";
import { percentile } from "./stats.ts";

/** Frames of a clip as the ffmpeg capture delivers them: raw RGB scaled into a 640 x 640 model input. */
function rawFrames(clip: string, width: number, height: number, frames: number): Buffer[] {
  const raw = execFileSync(
    "ffmpeg",
    [
      ...["-v", "error", "-i", `${DATA_DIR}/${clip}`, "-frames:v", String(frames)],
      ...["-vf", `scale=${width}:${height}`, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    ],
    { maxBuffer: 1 << 30 },
  );
  const size = width * height * 3;
  const out: Buffer[] = [];
  for (let at = 0; at + size <= raw.length; at += size) out.push(raw.subarray(at, at + size));
  return out;
}

/**
 * The scene check's cost per frame on the Node thread: every frame of a clip (decoded beforehand,
 * at the size the capture stage delivers) through `SceneCheck.observe`, a few passes, the first
 * pass left out as warm-up.
 */
export async function benchScene(options: Pick<BenchOptions, "iterations">): Promise<void> {
  console.log("\n## scene check: SceneCheck.observe per frame, raw RGB as captured for a 640 model input");
  console.log("| clip | frame | frames x passes | median µs | p90 µs | p99 µs |");
  console.log("|---|---|---|---|---|---|");
  const passes = Math.max(2, Math.min(6, options.iterations));
  for (const [clip, name, width, height] of [
    ["pets09-s2l1/pets09-s2l1.avi", "PETS", 640, 480],
    ["sample-videos/one-by-one-person-detection.mp4", "sample video", 640, 360],
  ] as const) {
    const frames = rawFrames(clip, width, height, 400);
    const check = new SceneCheck();
    const micros: number[] = [];
    let tsMs = 0;
    for (let pass = 0; pass < passes; pass++) {
      for (const frame of frames) {
        const t0 = performance.now();
        check.observe(frame, width, height, tsMs);
        const t = performance.now() - t0;
        if (pass > 0) micros.push(t * 1000);
        tsMs += 100;
      }
    }
    const wholeMicros = (p: number) => percentile(micros, p).toFixed(0);
    console.log(
      `| ${name} | ${width}x${height} | ${frames.length} x ${passes - 1} | ${wholeMicros(50)} | ${wholeMicros(90)} | ${wholeMicros(99)} |`,
    );
  }
}

// run by itself: `npx tsx scripts/bench/scene.ts`
if (import.meta.url === `file://${process.argv[1]}`) await benchScene({ iterations: 5 });
