import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeVideoFrames, probeVideo } from "../edge/capture/ffmpeg.ts";
import { evaluateCounting } from "../edge/cli/eval-track-count-commands.ts";
import { ConfigError } from "../edge/config/load.ts";
import {
  compareCounts,
  countGroundTruthBoxes,
  DEFAULT_EVAL_LINES,
  groundTruthCrossings,
} from "../edge/eval/count-eval.ts";
import { MotAccumulator, readSequence } from "../edge/eval/mot.ts";
import { occludedByNearer } from "../edge/eval/occlusion.ts";
import { readLinesFile } from "../edge/eval/sequence.ts";
import { evaluateTracker } from "../edge/eval/track-eval.ts";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath } from "./helpers/assets.ts";

const b = (x: number) => ({ x1: x, y1: 0, x2: x + 10, y2: 20 });

describe("MOT metrics", () => {
  it("perfect tracking scores MOTA 1 and IDF1 1", () => {
    const acc = new MotAccumulator();
    for (let f = 0; f < 10; f++)
      acc.add(
        [
          { id: 1, box: b(f) },
          { id: 2, box: b(100 + f) },
        ],
        [
          { id: 7, box: b(f) },
          { id: 8, box: b(100 + f) },
        ],
      );
    const m = acc.result();
    expect(m.mota).toBe(1);
    expect(m.idf1).toBe(1);
    expect(m.idSwitches).toBe(0);
  });

  it("counts an identity switch, misses and false positives", () => {
    const acc = new MotAccumulator();
    for (let f = 0; f < 10; f++) acc.add([{ id: 1, box: b(f) }], [{ id: f < 5 ? 7 : 9, box: b(f) }]);
    acc.add([{ id: 1, box: b(10) }], [{ id: 3, box: b(300) }]);
    const m = acc.result();
    expect(m.idSwitches).toBe(1);
    expect(m.falseNegatives).toBe(1);
    expect(m.falsePositives).toBe(1);
    expect(m.mota).toBeCloseTo(1 - 3 / 11);
    // best identity mapping covers 5 of 11 truth boxes and 5 of 11 predictions
    expect(m.idf1).toBeCloseTo((2 * 5) / 22);
  });
});

describe("count comparison", () => {
  it("scores per line and direction and overall", () => {
    const truth = new Map([
      ["a:l>r", 10],
      ["a:r>l", 0],
      ["b:l>r", 5],
    ]);
    const counted = new Map([
      ["a:l>r", 9],
      ["a:r>l", 1],
      ["b:l>r", 5],
    ]);
    const c = compareCounts(counted, truth);
    expect(c.rows.find((r) => r.line === "a" && r.direction === "l>r")!.accuracy).toBeCloseTo(0.9);
    expect(c.rows.find((r) => r.direction === "r>l")!.accuracy).toBeNull();
    expect(c.overallAccuracy).toBeCloseTo(1 - 2 / 15);
  });

  it("reads lines from a YAML file and names invalid fields", () => {
    const dir = mkdtempSync(join(tmpdir(), "lines-"));
    const good = join(dir, "good.yaml");
    writeFileSync(
      good,
      "lines:\n  - name: door\n    points: [[0.5, 0], [0.5, 1]]\n    from: in\n    to: out\n",
    );
    expect(readLinesFile(good)).toEqual([
      {
        name: "door",
        points: [
          [0.5, 0],
          [0.5, 1],
        ],
        from: "in",
        to: "out",
      },
    ]);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "lines:\n  - name: door\n    points: [[0.5, 0]]\n");
    expect(() => readLinesFile(bad)).toThrow(ConfigError);
    expect(() => readLinesFile(bad)).toThrow(/lines\[0\]\.points/);
  });
});

const pets = dataPath("pets09-s2l1");
const tud = dataPath("tud-campus");

describeWithAssets(
  "tracker on real ground truth (drops + jitter)",
  [join(pets, "gt/gt.txt"), join(tud, "gt/gt.txt")],
  () => {
    it.each([
      [pets, 0.85, 0.85, 10],
      [tud, 0.8, 0.85, 3],
    ])("%s", (dir, minMota, minIdf1, maxSwitches) => {
      const { metrics } = evaluateTracker(dir);
      expect(metrics.mota).toBeGreaterThanOrEqual(minMota);
      expect(metrics.idf1).toBeGreaterThanOrEqual(minIdf1);
      expect(metrics.idSwitches).toBeLessThanOrEqual(maxSwitches);
    });

    it("the truth for the six default lines on pets09-s2l1 has about 100 crossings", () => {
      const truth = groundTruthCrossings(pets, DEFAULT_EVAL_LINES);
      const total = [...truth.values()].reduce((a, v) => a + v, 0);
      expect(total).toBeGreaterThanOrEqual(90);
      expect(total).toBeLessThanOrEqual(110);
      expect(truth.size).toBe(12);
    });
  },
);

describeWithAssets("video decoding through ffmpeg", [join(tud, "tud-campus.mp4")], () => {
  it("decodes every frame of a real clip at the requested size", async () => {
    const info = await probeVideo(join(tud, "tud-campus.mp4"), false, 10_000);
    expect([info.width, info.height]).toEqual([640, 480]);
    let frames = 0;
    for await (const rgb of decodeVideoFrames(join(tud, "tud-campus.mp4"), 320, 240)) {
      expect(rgb.length).toBe(320 * 240 * 3);
      frames++;
    }
    expect(frames).toBe(71);
  });

  it("a file that is not a video is a clear error", async () => {
    await expect(probeVideo(join(tud, "seqinfo.ini"), false, 10_000)).rejects.toThrow(/cannot read video/);
  });
});

describeWithAssets(
  "counting on real video: detector + tracker + lines vs ground truth",
  [modelPath("yolox_nano.onnx"), join(pets, "pets09-s2l1.avi")],
  () => {
    it("pets09-s2l1 with yolox-nano: overall >= 0.95 and >= 0.90 on every line and direction with 10+ crossings", async () => {
      const r = await evaluateCounting(
        pets,
        { model: "yolox-nano", modelDir: MODEL_DIR, conf: "0.2", iou: "0.45", threads: "0" },
        false,
      );
      expect(r.frames).toBe(795);
      expect(r.overallAccuracy).toBeGreaterThanOrEqual(0.95);
      for (const row of r.rows.filter((x) => x.truth >= 10))
        expect(row.accuracy, `${row.line} ${row.direction}`).toBeGreaterThanOrEqual(0.9);
      expect(Object.keys(r.countsByMode)).toEqual(["pedestrian"]);
      // the bottom edges the lines are crossed by sit on the true feet, also where people hide each other's
      const feet = r.feet ?? { matched: 0, off: 0 };
      expect(feet.matched).toBeGreaterThan(3000);
      expect(feet.off / feet.matched).toBeLessThan(0.02);
    });
  },
);

describeWithAssets(
  "counting from ground-truth boxes (tracking and counting without the detector)",
  [join(tud, "gt", "gt.txt"), join(pets, "gt", "gt.txt")],
  () => {
    it("tud-campus: no count the people did not make (handovers to strangers at frames 24 and 47)", () => {
      const truth = groundTruthCrossings(tud, DEFAULT_EVAL_LINES);
      const { counts, crossings } = countGroundTruthBoxes(tud, DEFAULT_EVAL_LINES);
      const c = compareCounts(counts, truth);
      for (const row of c.rows)
        expect(row.counted, `${row.line} ${row.direction}`).toBeLessThanOrEqual(row.truth);
      expect(crossings.filter((x) => x.key === "x25:right>left").map((x) => x.frame)).not.toContain(26);
      expect(crossings.filter((x) => x.key === "x50:left>right").map((x) => x.frame)).not.toContain(49);
      // what is left are y75 'crossings' of annotation jitter (feet at 358-366 around y = 360)
      expect(c.overallAccuracy).toBeGreaterThanOrEqual(0.84);
    });

    it("pets09-s2l1: at least 0.98 of the ground truth's crossings", () => {
      const c = compareCounts(
        countGroundTruthBoxes(pets, DEFAULT_EVAL_LINES).counts,
        groundTruthCrossings(pets, DEFAULT_EVAL_LINES),
      );
      expect(c.overallAccuracy).toBeGreaterThanOrEqual(0.98);
    });

    // The ground truth's whole boxes cut where a nearer walker covers them, as a detector boxes the
    // visible part: the feet of the farther walker jump up by half a body and back, and a horizontal
    // line between the two places is "crossed" both ways (PETS frames 571-572 on y75, before the
    // ground point was estimated under an occluder).
    it("pets09-s2l1, walkers hidden from below by nearer walkers: every crossing of a horizontal line is one the whole boxes make", () => {
      const horizontal = DEFAULT_EVAL_LINES.filter((l) => l.name.startsWith("y"));
      const fps = readSequence(pets).frameRate;
      const whole = countGroundTruthBoxes(pets, horizontal).crossings;
      const cut = countGroundTruthBoxes(pets, horizontal, undefined, occludedByNearer).crossings;
      const madeByWhole = (x: { frame: number; key: string }) =>
        whole.some((w) => w.key === x.key && Math.abs(w.frame - x.frame) <= 2 * fps);
      expect(cut.filter((x) => !madeByWhole(x))).toEqual([]);
      // some walkers were cut where they crossed: the crossing rests on their estimated feet
      expect(cut.length).toBeGreaterThanOrEqual(whole.length - 1);
      expect(cut.some((x) => x.estimated)).toBe(true);
    });
  },
);

const tally = (name: string) => dataPath(name);
describeWithAssets(
  "per-mode counting on real traffic (tally folders, yolox-nano, default settings)",
  [
    modelPath("yolox_nano.onnx"),
    ...[
      "tally-junction-5s",
      "tally-junction-cars-cyclist",
      "tally-junction-cars-truck",
      "tally-highway",
      "intel-person-bicycle-car",
    ].map((n) => join(tally(n), "tally.json")),
  ],
  () => {
    const run = (name: string) =>
      evaluateCounting(tally(name), { model: "yolox-nano", modelDir: MODEL_DIR }, false);

    it.each(["tally-junction-5s", "tally-junction-cars-cyclist"])(
      "%s: every line, direction and mode exact (cyclists are not motorcyclists)",
      async (name) => {
        const r = await run(name);
        for (const row of r.modes.rows)
          expect(row.counted, `${row.line} ${row.direction} ${row.mode}`).toBe(row.truth);
        expect(r.modes.groups.cyclist?.truth).toBe(2);
      },
    );

    it("tally-highway: all 11 cars, the dark ones that fade to weak detections at the line too", async () => {
      // around the line, a dark SUV is missed in three frames and then detected only at 0.3-0.4
      // until past the line: its lost track takes those weak boxes along its path
      const r = await run("tally-highway");
      for (const row of r.modes.rows)
        expect(row.counted, `${row.line} ${row.direction} ${row.mode}`).toBe(row.truth);
      expect(r.modes.groups.car).toMatchObject({ counted: 11, truth: 11 });
    });

    it("tally-junction-cars-truck: the lorry is one vehicle, counted once, as a truck", async () => {
      // the region around the lines makes it larger at the model: over the whole view, shrunk,
      // YOLOX-Nano sees its cab as a car for most of the track
      const r = await run("tally-junction-cars-truck");
      for (const row of r.modes.rows)
        expect(row.counted, `${row.line} ${row.direction} ${row.mode}`).toBe(row.truth);
      expect(r.modes.groups["truck/bus"]).toMatchObject({ counted: 1, truth: 1 });
      expect(r.modes.countingErrors + r.modes.classErrors).toBe(0);
    });

    it("car park from above: both cars, the one that fades in over the line too", async () => {
      // the white car is detected at 0.2-0.5 while it crosses the left line and only then starts a
      // track: it is counted because the track starts where its faint sightings lead (around the
      // lines with a gap of three frames between them)
      const r = await run("intel-person-bicycle-car");
      expect(r.region).toBe("lines (margin 0.1)"); // camera.region's default, as a device counts
      expect(r.modes.groups.car).toMatchObject({ counted: 2, truth: 2 });
      expect(r.modes.groups.pedestrian).toMatchObject({ counted: 1, truth: 1 });
      // the far cyclists (~30 px) are not seen by YOLOX-Nano at 416 around both lines (x 0.2-0.8)
    });

    it("car park, detection region around the right line: the far cyclists are counted", async () => {
      // camera.region [0.6, 0, 1, 0.5]: the same 416 px of model input for a sixth of the view
      const r = await evaluateCounting(
        tally("intel-person-bicycle-car"),
        { model: "yolox-nano", modelDir: MODEL_DIR, region: "0.6,0,1,0.5" },
        false,
      );
      expect(r.region).toBe("0.6,0,1,0.5");
      const right = r.modes.rows.filter((row) => row.line === "right");
      for (const row of right) expect(row.counted, `${row.direction} ${row.mode}`).toBe(row.truth);
      expect(right.some((row) => row.mode === "cyclist" && row.truth === 2)).toBe(true);
    });
  },
);
