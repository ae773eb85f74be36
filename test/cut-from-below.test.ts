import { describe, expect, it } from "vitest";
import type { Box, Detection } from "../edge/domain/types.ts";
import { EVAL_PIPELINE_OPTIONS } from "../edge/eval/count-eval.ts";
import { FeetAccumulator } from "../edge/eval/feet-score.ts";
import { Pipeline } from "../edge/pipeline/pipeline.ts";
import { CutFromBelow } from "../edge/track/cut-from-below.ts";

const SCENE = { width: 1000, height: 1000 };

/** A horizontal line across the scene at `y` (relative): above it is "north". */
const across = (y: number) => ({
  lines: [
    {
      name: "h",
      points: [
        [0, y],
        [1, y],
      ] as const,
      from: "north",
      to: "south",
    },
  ],
  zones: [],
});

const person = (box: Box): Detection[] => [{ classId: 0, label: "person", score: 0.9, box }];

/** Crossings counted over a scripted sequence of one person's boxes. */
function crossingsOf(boxes: readonly Box[], lineY: number, fps: number): string[] {
  const pipeline = new Pipeline(EVAL_PIPELINE_OPTIONS, across(lineY));
  const out: string[] = [];
  boxes.forEach((box, i) => {
    for (const c of pipeline.step({ tsMs: (i * 1000) / fps, ...SCENE }, person(box)).crossings)
      out.push(`${c.from}>${c.to}`);
  });
  return out;
}

/** `n` frames of the same box. */
const hold = (box: Box, n: number): Box[] => Array.from({ length: n }, () => ({ ...box }));

describe("a person's box cut from below keeps the feet where they are", () => {
  // The case found beside a peer: a person standing still, an occluder (or the picture's bottom
  // edge) cuts their box, its bottom climbs 50-90 px in a few frames, and a bottom-centre anchor
  // "crossed" a horizontal line near them.
  it.each([
    ["an occluder", 400, 600, 80],
    ["the picture's bottom edge", 800, 1000, 60],
  ])("standing still behind %s counts nothing", (_what, top, bottom, climb) => {
    const whole = { x1: 480, y1: top, x2: 520, y2: bottom };
    const boxes = hold(whole, 25);
    for (let k = 1; k <= 3; k++) boxes.push({ ...whole, y2: bottom - (climb * k) / 3 });
    for (const b of hold({ ...whole, y2: bottom - climb }, 75)) boxes.push(b);
    // the line lies between the feet and the cut box's bottom
    const lineY = (bottom - climb / 2) / SCENE.height;
    expect(crossingsOf(boxes, lineY, 25)).toEqual([]);
  });

  // A cut that builds up slowly is followed down by the recent boxes; standing still, the feet stay.
  it.each([
    [50, 250, 5],
    [60, 200, 10],
    [90, 200, 8],
    [50, 250, 25],
  ])(
    "standing still while a cut of %i px of %i builds up over %i frames counts nothing",
    (climb, height, frames) => {
      const whole = { x1: 480, y1: 600 - height, x2: 520, y2: 600 };
      const boxes = hold(whole, 25);
      for (let k = 1; k <= frames; k++) boxes.push({ ...whole, y2: 600 - (climb * k) / frames });
      for (const b of hold({ ...whole, y2: 600 - climb }, 75)) boxes.push(b);
      expect(crossingsOf(boxes, (600 - climb / 2) / SCENE.height, 25)).toEqual([]);
    },
  );

  it("a walker receding slowly from a low camera (head and centre still) is not held: they cross", () => {
    // 25 fps, the box losing 0.5 % of its height a frame, its width alike: feet past the line at frame 50
    const boxes: Box[] = [];
    for (let i = 0; i < 125; i++) {
      const h = 200 - 0.6 * i;
      const w = 60 * (h / 200);
      boxes.push({ x1: 510 - w / 2, y1: 400, x2: 510 + w / 2, y2: 400 + h });
    }
    expect(crossingsOf(boxes, 0.55, 25)).toEqual(["south>north"]);
  });

  it("someone walking on while cut from below still crosses, by where their feet are", () => {
    const boxes: Box[] = [];
    // whole for 1 s, walking up the picture at 8 px per frame
    for (let i = 0; i < 25; i++) boxes.push({ x1: 480, y1: 400 - 8 * i, x2: 520, y2: 600 - 8 * i });
    // then the lower 40 % hidden while walking on
    for (let i = 25; i < 75; i++) boxes.push({ x1: 480, y1: 400 - 8 * i, x2: 520, y2: 520 - 8 * i });
    // the whole feet pass y = 250 at frame 44, the cut box's bottom at frame 34
    expect(crossingsOf(boxes, 0.25, 25)).toEqual(["south>north"]);
  });

  it("a walker moving away from a low camera (head still, feet climbing fast) crosses", () => {
    // 7 fps: the box loses 6 % of its height a frame, its width shrinking with it
    const boxes: Box[] = hold({ x1: 480, y1: 400, x2: 540, y2: 600 }, 7);
    for (let i = 1; i <= 8; i++) {
      const h = 200 - 12 * i;
      const w = 60 * (h / 200);
      boxes.push({ x1: 510 - w / 2, y1: 400, x2: 510 + w / 2, y2: 400 + h });
    }
    for (const b of hold(boxes[boxes.length - 1] as Box, 14)) boxes.push(b);
    expect(crossingsOf(boxes, 0.55, 7)).toEqual(["south>north"]);
  });
});

describe("a walker hidden from below by a nearer road user is counted by their estimated feet", () => {
  /** Two walkers: the farther one's box as the detector sees it, and the nearer one's whole box. */
  function walkPast(
    far: (i: number) => Box,
    near: (i: number) => Box | undefined,
    frames: number,
    lineY: number,
  ) {
    const pipeline = new Pipeline(EVAL_PIPELINE_OPTIONS, across(lineY));
    const out: { dir: string; estimated: boolean | undefined }[] = [];
    for (let i = 0; i < frames; i++) {
      const dets = person(far(i));
      const n = near(i);
      if (n) dets.push(...person(n));
      for (const c of pipeline.step({ tsMs: i * 40, ...SCENE }, dets).crossings)
        if (c.mode === "pedestrian") out.push({ dir: `${c.from}>${c.to}`, estimated: c.estimated });
    }
    return out;
  }
  // The farther walker strolls right along a line 40 px above their feet; a nearer walker passes in
  // front, leftwards, and as they slide in the detector's box of the farther one ends ever higher
  // (4 % of the height a frame: too gradual for a sudden cut), 100 px up at most, then back down.
  const nearer = (i: number): Box | undefined => {
    const x = 900 - 12 * i;
    return x < 0 ? undefined : { x1: x, y1: 500, x2: x + 110, y2: 780 };
  };
  const farX = (i: number) => 300 + 3 * i;
  const hiddenBy = (i: number): number => {
    const n = nearer(i);
    const cx = farX(i) + 40;
    if (!n || n.x2 < cx - 30 || n.x1 > cx + 30) return 0;
    // how far the nearer walker has slid over the farther one's centre, 0..1
    return Math.min(1, (Math.min(n.x2, cx + 30) - Math.max(n.x1, cx - 30)) / 60);
  };

  it("a walker along a line, hidden little by little from below, crosses nothing (the bottom of the box did)", () => {
    const far = (i: number): Box => ({
      x1: farX(i),
      y1: 400,
      x2: farX(i) + 80,
      y2: 600 - 96 * hiddenBy(i) + 4,
    });
    expect(walkPast(far, nearer, 100, 0.56)).toEqual([]);
  });

  it("a walker crossing while hidden is counted once, and the crossing says it rests on an estimate", () => {
    // walking down 3 px a frame (feet 560 -> 860), the line at 700; the nearer walker stands in front
    // of the line from frame 30 to 75, the farther one's box ending at their top
    const standing = (i: number): Box | undefined =>
      i >= 30 && i < 75 ? { x1: 280, y1: 640, x2: 420, y2: 980 } : undefined;
    const far = (i: number): Box => {
      const feet = 560 + 3 * i;
      const n = standing(i);
      return { x1: 320, y1: feet - 200, x2: 380, y2: n ? Math.min(feet, n.y1 + 4) : feet };
    };
    expect(walkPast(far, standing, 110, 0.7)).toEqual([{ dir: "north>south", estimated: true }]);
  });
});

describe("CutFromBelow", () => {
  const whole = { x1: 480, y1: 400, x2: 540, y2: 600 };
  /** Boxes seen at 25 fps from time 0. */
  const seenAll = (c: CutFromBelow, boxes: readonly Box[]) =>
    boxes.map((b, i) => ({ ...c.restore(1, b, i * 40, true) }));

  it("a height lost from below with the width kept is a cut: the box keeps its whole height until whole again", () => {
    const c = new CutFromBelow();
    const out = seenAll(c, [...hold(whole, 5), { ...whole, y2: 540 }, { ...whole, y2: 530 }, whole]);
    expect(out.map((b) => b.y2)).toEqual([600, 600, 600, 600, 600, 600, 600, 600]);
    // the third box was whole again: the next shrink is judged afresh against it
    expect(c.restore(1, { ...whole, y2: 590 }, 8 * 40, true).y2).toBe(590);
  });

  it("the same height lost with the width shrinking alike is perspective, not a cut", () => {
    const c = new CutFromBelow();
    const out = seenAll(c, [...hold(whole, 5), { x1: 489, y1: 400, x2: 531, y2: 540 }]);
    expect(out[5]?.y2).toBe(540);
  });

  it("sitting down (the top comes down, the feet stay) is not a cut", () => {
    const c = new CutFromBelow();
    const out = seenAll(c, [...hold(whole, 5), { ...whole, y1: 480 }]);
    expect(out[5]).toEqual({ ...whole, y1: 480 });
  });

  it("a cut box whose bottom moves with its top is whole after all (a merged box of two people coming apart)", () => {
    const c = new CutFromBelow();
    const merged = { x1: 590, y1: 250, x2: 630, y2: 380 };
    const alone = { x1: 590, y1: 250, x2: 630, y2: 345 };
    const out = seenAll(c, [
      ...hold(merged, 5),
      alone, // the top held, 35 px lost from below: taken for a cut
      { ...alone, y2: 340 }, // the cut deepens a little: still held
      { ...alone, y1: 280, y2: 375 }, // the whole box walks down 30 px: no occluder's edge does that
    ]);
    expect(out.map((b) => b.y2)).toEqual([380, 380, 380, 380, 380, 380, 380, 375]);
  });

  it("one odd tall box does not become the reference", () => {
    const c = new CutFromBelow();
    const out = seenAll(c, [...hold(whole, 4), { ...whole, y2: 700 }, whole]);
    expect(out[5]?.y2).toBe(600);
  });

  it("a prediction is handed on as the tracker made it, and the state is freed with the track", () => {
    const c = new CutFromBelow();
    seenAll(c, [...hold(whole, 5), { ...whole, y2: 540 }]);
    expect(c.restore(1, { ...whole, y2: 530 }, 6 * 40, false).y2).toBe(530);
    expect(c.restore(1, { ...whole, y2: 540 }, 7 * 40, true).y2).toBe(600);
    c.forget(1);
    expect(c.size).toBe(0);
  });
});

describe("FeetAccumulator", () => {
  it("scores seen, confirmed road users against the ground truth's feet, off beyond 0.2 of the true height", () => {
    const truth = [{ id: 1, box: { x1: 100, y1: 100, x2: 140, y2: 200 } }];
    const user = (y2: number, seen = true, confirmed = true) => ({
      trackId: 1,
      box: { x1: 100, y1: 100, x2: 140, y2 },
      mode: "pedestrian",
      confirmed,
      seen,
    });
    const feet = new FeetAccumulator();
    feet.add([user(190)], truth); // 0.1 off: fine
    feet.add([user(175)], truth); // 0.25 off: the feet jumped
    feet.add([user(175, false)], truth); // a prediction: not scored
    feet.add([user(175, true, false)], truth); // tentative: not scored
    feet.add([user(120)], truth); // IoU 0.2: not this person
    expect(feet.result()).toEqual({ matched: 2, off: 1 });
  });
});
