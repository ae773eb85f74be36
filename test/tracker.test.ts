import { describe, expect, it } from "vitest";
import type { Detection, TrackUpdate } from "../edge/domain/types.ts";
import { ByteTracker, DEFAULT_TRACKER_OPTIONS } from "../edge/track/byte-tracker.ts";
import { assignMinCost } from "../edge/track/hungarian.ts";
import { ModeOfTravel } from "../edge/track/mode-of-travel.ts";

const det = (label: string, x: number, y: number, w = 20, h = 50, score = 0.9): Detection => ({
  classId: 0,
  label,
  score,
  box: { x1: x - w / 2, y1: y - h, x2: x + w / 2, y2: y },
});

function brute(cost: number[][]): number {
  const rows = cost.length;
  const cols = cost[0]!.length;
  let best = Number.POSITIVE_INFINITY;
  const rec = (r: number, used: Set<number>, sum: number) => {
    if (r === rows) {
      best = Math.min(best, sum);
      return;
    }
    for (let c = 0; c < cols; c++) if (!used.has(c)) rec(r + 1, new Set([...used, c]), sum + cost[r]![c]!);
    if (rows > cols) rec(r + 1, used, sum); // row left unassigned
  };
  rec(0, new Set(), 0);
  return best;
}

describe("Hungarian assignment", () => {
  it("matches brute force on random square and rectangular matrices", () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let k = 0; k < 40; k++) {
      const rows = 1 + Math.floor(rnd() * 5);
      const cols = rows + Math.floor(rnd() * 3);
      const m = Array.from({ length: rows }, () =>
        Array.from({ length: cols }, () => Math.round(rnd() * 100)),
      );
      const a = assignMinCost(Float64Array.from(m.flat()), rows, cols);
      const total = [...a].reduce((s, c, r) => s + m[r]![c]!, 0);
      expect(new Set(a).size).toBe(rows);
      expect(total).toBe(brute(m));
    }
  });

  it("never assigns a forbidden pair and handles more rows than columns", () => {
    const I = Number.POSITIVE_INFINITY;
    expect([...assignMinCost(Float64Array.from([I, 1, 2, I]), 2, 2)]).toEqual([1, 0]);
    expect([...assignMinCost(Float64Array.from([I, I]), 2, 1)]).toEqual([-1, -1]);
    expect([...assignMinCost(Float64Array.from([5, 1, 3]), 3, 1)]).toEqual([-1, 0, -1]);
  });
});

describe("ByteTracker", () => {
  const fps = (n: number) => 1000 / n;

  it("follows one walker with one id, confirmed after minHits frames", () => {
    const tracker = new ByteTracker();
    const ids = new Set<number>();
    let last: TrackUpdate | undefined;
    for (let i = 0; i < 30; i++) {
      last = tracker.update([det("person", 100 + i * 5, 200)], i * fps(10));
      if (i === DEFAULT_TRACKER_OPTIONS.minHits - 2) expect(last.tracks[0]!.state).toBe("tentative");
      for (const t of last.tracks) ids.add(t.id);
    }
    expect(ids.size).toBe(1);
    expect(last!.tracks[0]!.state).toBe("confirmed");
    // velocity in pixels per second: 5 px per frame at 10 fps
    expect(last!.tracks[0]!.velocity.x).toBeCloseTo(50, -1);
  });

  it.each([3, 10, 30])(
    "keeps the id through a 1 s occlusion at %i fps (buffer in seconds, not frames)",
    (rate) => {
      const tracker = new ByteTracker();
      const ids = new Set<number>();
      const speed = 40; // px per second
      for (let i = 0; i < rate * 6; i++) {
        const t = i / rate;
        const hidden = t >= 2 && t < 3;
        const u = tracker.update(hidden ? [] : [det("person", 100 + speed * t, 200)], t * 1000);
        for (const tr of u.tracks) if (tr.state === "confirmed") ids.add(tr.id);
      }
      expect(ids.size).toBe(1);
    },
  );

  it("ends a track after the lost buffer and frees it", () => {
    const tracker = new ByteTracker();
    const removed: number[] = [];
    for (let i = 0; i < 5; i++) tracker.update([det("person", 100, 200)], i * 100);
    for (let i = 5; i < 40; i++) removed.push(...tracker.update([], i * 100).removed.map((t) => t.id));
    expect(removed).toEqual([1]);
    expect(tracker.size).toBe(0);
  });

  it("two people walking past each other keep their ids", () => {
    const tracker = new ByteTracker();
    const tracksAt: Record<number, number>[] = [];
    for (let i = 0; i < 40; i++) {
      const u = tracker.update([det("person", 50 + i * 5, 200), det("person", 250 - i * 5, 205)], i * 100);
      const map: Record<number, number> = {};
      for (const t of u.tracks) map[t.id] = (t.box.x1 + t.box.x2) / 2;
      tracksAt.push(map);
    }
    const end = tracksAt.at(-1)!;
    // track 1 started on the left and must end on the right
    expect(end[1]).toBeGreaterThan(200);
    expect(end[2]).toBeLessThan(100);
    expect(Object.keys(end)).toHaveLength(2);
  });

  it("a low-score detection keeps a confirmed track alive (second association)", () => {
    const tracker = new ByteTracker();
    for (let i = 0; i < 5; i++) tracker.update([det("person", 100 + i * 3, 200)], i * 100);
    for (let i = 5; i < 30; i++) {
      const u = tracker.update([det("person", 100 + i * 3, 200, 20, 50, 0.2)], i * 100);
      expect(u.tracks[0]!.lastSeenMs).toBe(i * 100);
    }
    // but a low-score detection alone never starts a track
    const fresh = new ByteTracker();
    for (let i = 0; i < 5; i++)
      expect(fresh.update([det("person", 100, 200, 20, 50, 0.3)], i * 100).tracks).toHaveLength(0);
  });

  it("a track missed in one frame is rescued by a weak detection where it should be (a dark car fading)", () => {
    // the highway case: a car detected confidently, missed once, then seen only at score 0.2-0.3
    const tracker = new ByteTracker();
    const car = (i: number, score: number) => det("car", 300, 100 + i * 12, 60, 40, score);
    for (let i = 0; i < 6; i++) tracker.update([car(i, 0.8)], i * 33);
    expect(tracker.update([], 6 * 33).tracks[0]!.state).toBe("lost");
    for (let i = 7; i < 15; i++) {
      const u = tracker.update([car(i, 0.25)], i * 33);
      expect(u.tracks).toHaveLength(1);
      expect(u.tracks[0]!.id).toBe(1);
      expect(u.tracks[0]!.state).toBe("confirmed");
      expect(u.tracks[0]!.lastSeenMs).toBe(i * 33);
    }
  });

  it("a track missed for several frames is rescued by weak detections along its path, not by one elsewhere", () => {
    // the highway seen through a detection region: a dark car at 0.7, missed in three frames,
    // then seen only at 0.3-0.4 all the way across the line (20 fps)
    const car = (i: number, score: number, dx = 0) => det("car", 540 + dx, 170 + i * 10, 80, 84, score);
    const run = (dx: number) => {
      const tracker = new ByteTracker();
      for (let i = 0; i < 10; i++) tracker.update([car(i, 0.7)], i * 50);
      for (let i = 10; i < 13; i++) expect(tracker.update([], i * 50).tracks[0]!.state).toBe("lost");
      let u = tracker.update([car(13, 0.35, dx)], 13 * 50);
      for (let i = 14; i < 20; i++) u = tracker.update([car(i, 0.35, dx)], i * 50);
      return u;
    };
    const along = run(0);
    expect(along.tracks).toHaveLength(1);
    expect(along.tracks[0]!.id).toBe(1);
    expect(along.tracks[0]!.state).toBe("confirmed");
    expect(along.tracks[0]!.lastSeenMs).toBe(19 * 50);
    // the same weak boxes half a car to the side overlap the prediction too little: nothing taken
    const beside = run(50);
    expect(beside.tracks.map((t) => t.state)).toEqual(["lost"]);
    expect(beside.tracks[0]!.lastSeenMs).toBe(9 * 50);
  });

  it("a weak box over someone found in the same frame rescues nobody (the occluder, not the lost one)", () => {
    const tracker = new ByteTracker();
    // two people side by side; the left one is hidden for a frame, then only a weak box remains,
    // lying over the right one
    for (let i = 0; i < 6; i++)
      tracker.update([det("person", 100 + i * 2, 200), det("person", 118 + i * 2, 200)], i * 100);
    tracker.update([det("person", 130, 200)], 600);
    // the weak box covers where the lost one should be (IoU > 0.5) and a third of the right one
    const u = tracker.update([det("person", 132, 200), det("person", 121, 200, 26, 50, 0.3)], 700);
    const left = u.tracks.find((t) => t.id === 1)!;
    expect(left.state).toBe("lost");
    expect(u.tracks.find((t) => t.id === 2)!.state).toBe("confirmed");
  });

  /** A car driving left at 12 fps, detected with these scores (0: not detected); the last update. */
  const carWithScores = (scores: number[]): TrackUpdate => {
    const tracker = new ByteTracker();
    let u: TrackUpdate = { tsMs: 0, tracks: [], removed: [] };
    scores.forEach((s, i) => {
      u = tracker.update(s > 0 ? [car(i, s)] : [], i * 83);
    });
    return u;
  };
  const car = (i: number, score: number) => det("car", 300 - i * 10, 200, 120, 80, score);

  it("a track starts where its object faded in: the weak sightings before it are its origin", () => {
    // a car entering: 0.2-0.45 for six frames (one frame missed), then confident
    const t = carWithScores([0.22, 0.25, 0, 0.3, 0.45, 0.4, 0.8, 0.8, 0.8]).tracks[0]!;
    expect(t.firstSeenMs).toBe(6 * 83);
    expect(t.origin.tsMs).toBe(0);
    expect(t.origin.box).toEqual(car(0, 0.22).box);
  });

  it("a faint past is followed across several frames without a sighting, as far as it overlaps", () => {
    // the car park through a detection region: a car at 0.2, not detected in three frames, then
    // 0.35-0.6 (12 fps, 10 px per frame, 120 px wide: three frames apart still overlap)
    const t = carWithScores([0.2, 0, 0, 0, 0.35, 0.37, 0.38, 0.6, 0.6, 0.6]).tracks[0]!;
    expect(t.firstSeenMs).toBe(7 * 83);
    expect(t.origin.tsMs).toBe(0);
    // a sighting that the car cannot have made (as far back as the car is wide) is not its past
    const far = new ByteTracker();
    far.update([det("car", 300 + 130, 200, 120, 80, 0.2)], 0);
    far.update([], 83);
    far.update([], 2 * 83);
    const u = far.update([car(3, 0.8)], 3 * 83);
    expect(u.tracks[0]!.origin.tsMs).toBe(3 * 83);
  });

  it("a tentative track that dies gives its sightings back to the track that follows", () => {
    // weak, one confident frame that starts a tentative track, weak again (it dies), then confident
    const u = carWithScores([0.3, 0.3, 0.7, 0.4, 0.4, 0.4, 0.8, 0.8, 0.8]);
    expect(u.tracks).toHaveLength(1);
    expect(u.tracks[0]!.id).toBe(2);
    expect(u.tracks[0]!.origin.tsMs).toBe(0);
  });

  it("a track's past is no other object's: not another family, not older than the lost buffer, not a matched road user's fragment", () => {
    // a person-family box where the car fades in is not its past
    const a = new ByteTracker();
    a.update([det("person", 300, 200, 120, 80, 0.3)], 0);
    expect(a.update([car(1, 0.8)], 83).tracks[0]!.origin.tsMs).toBe(83);
    // sightings older than the lost buffer (2 s) are not followed
    const b = new ByteTracker();
    for (let i = 0; i < 40; i++) b.update([car(i * 0.1, 0.3)], i * 100);
    const born = b.update([car(4, 0.8)], 4000).tracks[0]!;
    expect(born.origin.tsMs).toBeGreaterThanOrEqual(4000 - DEFAULT_TRACKER_OPTIONS.lostBufferSec * 1000);
    expect(born.origin.tsMs).toBeLessThan(4000);
    // weak boxes lying over a confirmed car are its fragments, not a second car's past
    const c = new ByteTracker();
    for (let i = 0; i < 6; i++) c.update([car(0, 0.9), det("car", 330, 200, 120, 80, 0.3)], i * 83);
    const second = c
      .update([car(0, 0.9), det("car", 330, 200, 120, 80, 0.8)], 6 * 83)
      .tracks.find((t) => t.id !== 1)!;
    expect(second.origin.tsMs).toBe(6 * 83);
  });

  it("votes the category over the track's life: a car flickering to truck stays one car", () => {
    const tracker = new ByteTracker();
    let u: TrackUpdate | undefined;
    for (let i = 0; i < 20; i++) {
      const label = i === 7 || i === 8 ? "truck" : "car";
      u = tracker.update([det(label, 100 + i * 10, 300, 80, 50)], i * 100);
    }
    expect(u!.tracks).toHaveLength(1);
    expect(u!.tracks[0]!.category).toBe("car");
    // each vote is the score times the box height (pixels the class was judged on)
    expect(u!.tracks[0]!.categoryVotes.get("truck")).toBeCloseTo(2 * 0.9 * 50);
  });

  it.each([
    ["no prior: the class seen more often wins", {}, "motorcycle"],
    ["motorcycles rare here (share 0.1): bicycle", { bicycle: 0.9, motorcycle: 0.1 }, "bicycle"],
    ["motorcycles common (share 0.5): the evidence decides", { bicycle: 0.5, motorcycle: 0.5 }, "motorcycle"],
  ])("a two-wheeler seen 12 times as motorcycle and 8 as bicycle; %s", (_name, classPrior, expected) => {
    const tracker = new ByteTracker({ ...DEFAULT_TRACKER_OPTIONS, classPrior });
    let u: TrackUpdate | undefined;
    for (let i = 0; i < 20; i++)
      u = tracker.update([det(i % 5 < 3 ? "motorcycle" : "bicycle", 100 + i * 5, 300, 30, 40)], i * 100);
    expect(u?.tracks.map((t) => t.category)).toEqual([expected]);
  });

  it("a lorry that looked like a car while small: the near, large sightings weigh more", () => {
    const tracker = new ByteTracker();
    let u: TrackUpdate | undefined;
    // approaching: 8 frames "car" while 40-82 px tall, then 6 frames "truck" at 88-118 px
    for (let i = 0; i < 14; i++) {
      const h = 40 + i * 6;
      u = tracker.update([det(i >= 8 ? "truck" : "car", 100 + i * 4, 300 + i * 6, h * 1.2, h)], i * 100);
    }
    expect(u?.tracks.map((t) => t.category)).toEqual(["truck"]);
  });

  it("never continues a person track with a bicycle box", () => {
    const tracker = new ByteTracker();
    for (let i = 0; i < 5; i++) tracker.update([det("person", 100, 200)], i * 100);
    const u = tracker.update([det("bicycle", 100, 200)], 500);
    expect(u.tracks.find((t) => t.category === "person")!.state).toBe("lost");
  });

  it("a crowd of 300 for 1000 frames stays correct and bounded", () => {
    const tracker = new ByteTracker();
    const modes = new ModeOfTravel();
    const cols = 20;
    let maxSize = 0;
    let idsSeen = 0;
    for (let f = 0; f < 1000; f++) {
      const dets: Detection[] = [];
      for (let k = 0; k < 300; k++) {
        // a grid of walkers drifting right, wrapping around every 100 frames (new people)
        const gx = (k % cols) * 40 + (f % 100) * 0.4;
        const gy = Math.floor(k / cols) * 60 + 60;
        dets.push(det("person", gx, gy));
      }
      const u = tracker.update(dets, f * 100);
      const users = modes.update(u);
      if (f % 100 === 50) {
        expect(u.tracks.filter((t) => t.state === "confirmed")).toHaveLength(300);
        expect(users).toHaveLength(300);
      }
      maxSize = Math.max(maxSize, tracker.size, modes.size);
      idsSeen = Math.max(idsSeen, ...u.tracks.map((t) => t.id));
    }
    // every wrap is a jump of 40 px: the same 300 tracks follow or 300 new ones start, never more held
    expect(maxSize).toBeLessThanOrEqual(600);
    expect(idsSeen).toBeLessThanOrEqual(300 * 11);
  });
});

describe("mode of travel", () => {
  function run(frames: Detection[][]) {
    const tracker = new ByteTracker();
    const modes = new ModeOfTravel();
    let users: ReturnType<ModeOfTravel["update"]> = [];
    frames.forEach((dets, i) => {
      users = modes.update(tracker.update(dets, i * 100));
    });
    return users.map((u) => u.mode).sort();
  }
  const person = (x: number, bottom: number) => det("person", x, bottom, 30, 90);
  const bike = (x: number, bottom = 300) => det("bicycle", x, bottom, 60, 45);
  const frames = (n: number, f: (i: number) => Detection[]) => Array.from({ length: n }, (_, i) => f(i));

  it("a person riding a bicycle is one cyclist; the bicycle is not counted on its own", () => {
    expect(run(frames(12, (i) => [person(100 + i * 15, 290), bike(100 + i * 15)]))).toEqual(["cyclist"]);
  });

  it("a person riding a motorcycle is one motorcyclist", () => {
    expect(
      run(frames(12, (i) => [person(100 + i * 25, 290), { ...bike(100 + i * 25), label: "motorcycle" }])),
    ).toEqual(["motorcyclist"]);
  });

  it("a pedestrian walking past a parked bicycle stays a pedestrian; the parked bicycle is no road user", () => {
    expect(run(frames(12, (i) => [person(40 + i * 8, 300), bike(120)]))).toEqual(["pedestrian"]);
  });

  it("a person walking a bicycle beside them is a pedestrian, and the bicycle is not a second road user", () => {
    expect(run(frames(12, (i) => [person(100 + i * 8, 300), bike(145 + i * 8)]))).toEqual(["pedestrian"]);
  });

  it("a moving bicycle whose rider is not detected counts as a cyclist", () => {
    expect(run(frames(12, (i) => [bike(100 + i * 15)]))).toEqual(["cyclist"]);
  });

  it("cars, buses and trucks keep their own modes", () => {
    expect(
      run(
        frames(8, (i) => [
          det("car", 100 + i * 20, 300, 80, 50),
          det("bus", 400 + i * 20, 300, 150, 100),
          det("truck", 100 + i * 20, 500, 120, 80),
        ]),
      ),
    ).toEqual(["bus", "car", "truck"]);
  });
});
