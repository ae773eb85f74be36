import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { SceneCheck } from "../../edge/scene/scene-check.ts";

const DATA_DIR = resolve(process.env.DATA_DIR ?? "../shared/data");

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

function percentileOf(sorted: readonly number[], p: number): number {
  const at = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (at - lo);
}

/**
 * The scene check's cost per frame on the Node thread: every frame of a clip (decoded beforehand,
 * at the size the capture stage delivers) through `SceneCheck.observe`, a few passes, the first
 * pass left out as warm-up.
 */
export async function benchScene(options: { readonly iterations: number }): Promise<void> {
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
    micros.sort((a, b) => a - b);
    const f = (v: number) => v.toFixed(0);
    console.log(
      `| ${name} | ${width}x${height} | ${frames.length} x ${passes - 1} | ${f(percentileOf(micros, 50))} | ${f(percentileOf(micros, 90))} | ${f(percentileOf(micros, 99))} |`,
    );
  }
}

// run by itself: `npx tsx scripts/bench/scene.ts`
if (import.meta.url === `file://${process.argv[1]}`) await benchScene({ iterations: 5 });
