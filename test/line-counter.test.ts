import { describe, expect, it } from "vitest";
import { LineCounter } from "../edge/count/line-counter.ts";
import type { Crossing, RoadUser } from "../edge/domain/types.ts";

// A horizontal line drawn left to right at y = 100 from x = 0 to 200: the side above is `north` (from).
const line = {
  name: "gate",
  points: [
    { x: 0, y: 100 },
    { x: 200, y: 100 },
  ],
  from: "north",
  to: "south",
};

/** One observation: track id, feet x, feet y; box 20 wide and 50 tall standing on the point. */
type Obs = [id: number, x: number, y: number, opts?: { mode?: string; confirmed?: boolean; seen?: boolean }];

function user([id, x, y, o]: Obs): RoadUser {
  return {
    trackId: id,
    box: { x1: x - 10, y1: y - 50, x2: x + 10, y2: y },
    mode: o?.mode ?? "pedestrian",
    confirmed: o?.confirmed ?? true,
    seen: o?.seen ?? true,
  };
}

/** Feeds one frame per entry (each entry a list of observations) and returns all crossings as "from>to:mode". */
function run(frames: Obs[][], removedAt: Record<number, number[]> = {}, points = line.points): string[] {
  const counter = new LineCounter({ ...line, points });
  const out: Crossing[] = [];
  frames.forEach((obs, i) => {
    out.push(...counter.update(obs.map(user), i * 100, removedAt[i] ?? []));
  });
  return out.map((c) => `${c.from}>${c.to}:${c.mode}`);
}

const path = (id: number, x: number, ys: number[], o?: Obs[3]): Obs[][] => ys.map((y) => [[id, x, y, o]]);

describe("line crossings", () => {
  it.each<[string, Obs[][], string[]]>([
    ["walking north to south", path(1, 100, [40, 60, 80, 95, 105, 120, 140]), ["north>south:pedestrian"]],
    ["walking south to north", path(1, 100, [160, 140, 120, 104, 96, 80, 60]), ["south>north:pedestrian"]],
    ["jitter on the line counts nothing", path(1, 100, [60, 80, 96, 104, 97, 105, 95, 104, 96, 70]), []],
    [
      "staying inside the hysteresis band past the line counts nothing",
      path(1, 100, [60, 80, 95, 103, 106, 104]),
      [],
    ],
    ["touching the line without crossing counts nothing", path(1, 100, [40, 70, 90, 100, 90, 70, 40]), []],
    [
      "crossing the line's extension outside the segment counts nothing",
      path(1, 300, [40, 60, 80, 120, 140, 160]),
      [],
    ],
    [
      "crossing back counts the other direction",
      path(1, 100, [40, 70, 130, 160, 130, 70, 40]),
      ["north>south:pedestrian", "south>north:pedestrian"],
    ],
    [
      "a third crossing in a direction already counted adds nothing",
      path(1, 100, [40, 130, 40, 130, 40]),
      ["north>south:pedestrian", "south>north:pedestrian"],
    ],
    ["a track born past the line counts nothing", path(1, 100, [130, 150, 170, 190]), []],
    ["an unconfirmed track never counts", path(1, 100, [40, 70, 130, 160], { confirmed: false }), []],
    [
      "a cyclist counts as a cyclist",
      path(1, 100, [40, 80, 120, 160], { mode: "cyclist" }),
      ["north>south:cyclist"],
    ],
    ["a big step across the line in one frame counts", path(1, 100, [40, 180]), ["north>south:pedestrian"]],
    // first seen inside the hysteresis band (the first frames of a recording, or out of an occlusion)
    [
      "first seen just before the line, then walking across: counted",
      path(1, 100, [95, 105, 115, 125, 135]),
      ["north>south:pedestrian"],
    ],
    [
      "first seen just before the line, crossing into the band only: nothing",
      path(1, 100, [95, 99, 103, 106, 104, 106]),
      [],
    ],
    [
      "first seen on the line, standing there with jitter for seconds: nothing",
      path(1, 100, [99, 102, 98, 103, 101, 102, 103, 102, 101, 103, 102, 104, 102, 103, 101, 102, 103]),
      [],
    ],
  ])("%s", (_name, frames, expected) => {
    expect(run(frames)).toEqual(expected);
  });

  it("a crossing made while tentative counts once the track is confirmed", () => {
    const frames: Obs[][] = [
      [[1, 100, 60, { confirmed: false }]],
      [[1, 100, 90, { confirmed: false }]],
      [[1, 100, 130, { confirmed: false }]],
      [[1, 100, 150]],
      [[1, 100, 170]],
    ];
    expect(run(frames)).toEqual(["north>south:pedestrian"]);
  });

  it("a track that began past the line counts the crossing its faint origin shows", () => {
    const counter = new LineCounter(line);
    const origin = { box: { x1: 90, y1: 30, x2: 110, y2: 80 }, tsMs: 0 }; // feet at y 80: north
    const frames = [130, 150, 170].map((y, i) => ({ ...user([1, 100, y, { confirmed: i > 0 }]), origin }));
    const out = frames.flatMap((u, i) => [...counter.update([u], 500 + i * 100)]);
    expect(out.map((c) => `${c.from}>${c.to}`)).toEqual(["north>south"]);
    // without the origin, the same track was never seen north of the line: nothing to count
    expect(run([[[1, 100, 130, { confirmed: false }]], [[1, 100, 150]], [[1, 100, 170]]])).toEqual([]);
  });

  it("an ID switch mid-line is one crossing, not two and not zero", () => {
    const frames: Obs[][] = [
      [[1, 100, 50]],
      [[1, 100, 80]],
      [[1, 100, 98]],
      [[1, 100, 98, { seen: false }]], // track 1 lost on the line
      [
        [1, 100, 98, { seen: false }],
        [2, 102, 110],
      ], // track 2 born just past it
      [
        [1, 100, 98, { seen: false }],
        [2, 103, 130],
      ],
      [[2, 104, 160]],
    ];
    expect(run(frames, { 6: [1] })).toEqual(["north>south:pedestrian"]);
  });

  it("repeated ID switches of an object standing on the line count it once (the car counted 15 times)", () => {
    const frames: Obs[][] = [[[1, 100, 50, { mode: "car" }]], [[1, 100, 70, { mode: "car" }]]];
    let id = 1;
    for (let k = 0; k < 15; k++) {
      // the old id is lost and a new one is born at the same place, jittering across the line
      frames.push([
        [id, 100, 96 + (k % 2) * 12, { mode: "car", seen: false }],
        [id + 1, 100, 96 + ((k + 1) % 2) * 12, { mode: "car" }],
      ]);
      id++;
    }
    frames.push([[id, 100, 150, { mode: "car" }]]);
    frames.push([[id, 100, 180, { mode: "car" }]]);
    expect(run(frames)).toEqual(["north>south:car"]);
  });

  it("an ID switch after the crossing was counted does not count it again", () => {
    const frames: Obs[][] = [
      ...path(1, 100, [40, 80, 120, 140]),
      [
        [1, 100, 140, { seen: false }],
        [2, 100, 145],
      ],
      [[2, 100, 160]],
    ];
    expect(run(frames)).toEqual(["north>south:pedestrian"]);
  });

  it("once a lost track's prediction has travelled a body height, a newcomer does not inherit it", () => {
    // track 1 is lost just before the line; the tracker predicts it onwards, more than one box
    // height (50) in all; then a newcomer appears near where track 1 was last seen (tud-campus,
    // frame 24: a stranger entering took over a state lost long before and made a false count)
    const frames: Obs[][] = [
      [[1, 100, 60]],
      [[1, 100, 80]],
      [[1, 100, 90]],
      ...[100, 115, 130, 145, 160].map((y): Obs[] => [[1, 100, y, { seen: false }]]),
      [[2, 100, 130]],
      [[2, 100, 150]],
      [[2, 100, 170]],
    ];
    expect(run(frames)).toEqual([]);
  });

  it("a new track far from the vanished one is a different object", () => {
    const frames: Obs[][] = [
      ...path(1, 100, [40, 80, 96]),
      [
        [1, 100, 96, { seen: false }],
        [2, 190, 130],
      ],
      [[2, 190, 160]],
    ];
    expect(run(frames)).toEqual([]);
  });

  it("a new track of another mode does not inherit", () => {
    const frames: Obs[][] = [
      ...path(1, 100, [40, 80, 96]),
      [
        [1, 100, 96, { seen: false }],
        [2, 100, 110, { mode: "car" }],
      ],
      [[2, 100, 160, { mode: "car" }]],
    ];
    expect(run(frames)).toEqual([]);
  });

  it("counts on a polyline, with the side taken from the segment crossed", () => {
    // An L: along y = 100 from x 0 to 100, then down along x = 100 to y = 200. Left of the drawing
    // direction is north on the first leg and east on the second.
    const poly = [
      { x: 0, y: 100 },
      { x: 100, y: 100 },
      { x: 100, y: 200 },
    ];
    expect(run(path(1, 50, [40, 80, 130, 160]), {}, poly)).toEqual(["north>south:pedestrian"]);
    const eastToWest: Obs[][] = [150, 130, 110, 90, 70, 50].map((x) => [[1, x, 170]]);
    expect(run(eastToWest, {}, poly)).toEqual(["north>south:pedestrian"]);
  });

  it("frees state of ended tracks", () => {
    const counter = new LineCounter(line);
    for (let i = 0; i < 50; i++) counter.update([user([i, 100, 40])], i, [i - 1]);
    expect(counter.size).toBeLessThanOrEqual(2);
  });
});
