// npx tsx scripts/crowd-density.ts — how counting people holds up as a crowd thickens (docs/accuracy.md,
// dense crowds). Synthetic walkers 100 px tall on one ground plane, seen as a detector boxes them
// where nearer people hide them (`occludedByNearer`), through the counter's own pipeline at 10 fps.
// Two flows: across the view over a vertical line, and towards and away from the camera over a
// horizontal one (counted by the ground point and by the head). Three seeds of 60 s each.
import type { Anchor } from "../edge/domain/geometry.ts";
import { EVAL_PIPELINE_OPTIONS } from "../edge/eval/count-eval.ts";
import type { GtBox } from "../edge/eval/mot.ts";
import { occludedByNearer } from "../edge/eval/occlusion.ts";
import { CROWD_MIN_PEOPLE, CROWDED_SHARE, Pipeline } from "../edge/pipeline/pipeline.ts";

const W = 1920;
/** The scene is taller than the band people walk in: no one reaches the picture's bottom edge. */
const H = 2000;
const HEIGHT = 100;
const WIDTH = 40;
const FPS = 10;
const FRAMES = 600;

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Outcome {
  readonly accuracy: number;
  /** Share of people present whose feet were hidden or who were not detected at all. */
  readonly hidden: number;
  /** Share of frames the pipeline took for crowded. */
  readonly crowded: number;
}

/** `across`: walkers move along x over a vertical line; else along y (depth) over a horizontal line. */
function simulate(density: number, across: boolean, anchor: Anchor): Outcome {
  const [y0, y1] = across ? [500, 900] : [250, 1150];
  const lineAt = across ? W / 2 : 700;
  let truth = 0;
  let counted = 0;
  let hidden = 0;
  let present = 0;
  let crowded = 0;
  for (const seed of [1, 2, 3]) {
    const rand = seeded(seed);
    const n = Math.round(density * (W / HEIGHT) * ((y1 - y0) / HEIGHT));
    const walkers = Array.from({ length: n }, (_, id) => ({
      x: rand() * W,
      y: y0 + rand() * (y1 - y0),
      v: (rand() < 0.5 ? -1 : 1) * HEIGHT * (0.7 + 0.6 * rand()),
      id,
    }));
    let nextId = n;
    const line = across
      ? {
          name: "v",
          points: [
            [0.5, 1],
            [0.5, 0],
          ] as const,
          from: "w",
          to: "e",
        }
      : {
          name: "h",
          points: [
            [0, lineAt / H],
            [1, lineAt / H],
          ] as const,
          from: "n",
          to: "s",
        };
    const pipeline = new Pipeline(
      { ...EVAL_PIPELINE_OPTIONS, line: { ...EVAL_PIPELINE_OPTIONS.line, anchor } },
      { lines: [line], zones: [] },
    );
    for (let f = 0; f < FRAMES; f++) {
      const people: GtBox[] = [];
      for (const w of walkers) {
        // the counted point's true crossing: the feet, or the head for the head anchor
        const before = across ? w.x : w.y - (anchor === "top-center" ? HEIGHT : 0);
        if (across) {
          w.x += w.v / FPS;
          w.y += (rand() - 0.5) * 2;
        } else {
          w.y += w.v / FPS;
          w.x += (rand() - 0.5) * 2;
        }
        const after = across ? w.x : w.y - (anchor === "top-center" ? HEIGHT : 0);
        if (before < lineAt !== after < lineAt) truth++;
        // leaving the band: a new person enters on the other side
        const pos = across ? w.x : w.y;
        const [lo, hi] = across ? [-50, W + 50] : [y0 - 20, y1 + 20];
        if (pos < lo || pos > hi) {
          if (across) w.x = w.v > 0 ? lo + 10 : hi - 10;
          else w.y = w.v > 0 ? lo + 10 : hi - 10;
          w.id = nextId++;
        }
        people.push({
          id: w.id,
          box: { x1: w.x - WIDTH / 2, y1: w.y - HEIGHT, x2: w.x + WIDTH / 2, y2: w.y },
        });
      }
      const seen = occludedByNearer(people);
      const whole = new Set(seen.filter((s) => s.box.y2 - s.box.y1 === HEIGHT).map((s) => s.id));
      hidden += people.length - whole.size;
      present += people.length;
      const detections = seen.map((g) => ({ classId: 0, label: "person", score: 0.9, box: g.box }));
      const r = pipeline.step({ tsMs: (f * 1000) / FPS, width: W, height: H }, detections);
      counted += r.crossings.length;
      if (r.peopleSeen >= CROWD_MIN_PEOPLE && r.feetHidden >= CROWDED_SHARE * r.peopleSeen) crowded++;
    }
  }
  return {
    accuracy: 1 - Math.abs(counted - truth) / truth,
    hidden: hidden / present,
    crowded: crowded / (3 * FRAMES),
  };
}

console.log(
  "| people per height² | feet hidden or unseen | frames crowded | across the view | towards/away, ground point | towards/away, head |",
);
console.log("|---|---|---|---|---|---|");
for (const density of [0.2, 0.4, 0.8, 1.2, 1.6, 2.4]) {
  const across = simulate(density, true, "bottom-center");
  const ground = simulate(density, false, "bottom-center");
  const head = simulate(density, false, "top-center");
  const f = (x: number) => x.toFixed(2);
  console.log(
    `| ${density} | ${f(across.hidden)} / ${f(ground.hidden)} | ${f(across.crowded)} / ${f(ground.crowded)} | ${f(across.accuracy)} | ${f(ground.accuracy)} | ${f(head.accuracy)} |`,
  );
}
