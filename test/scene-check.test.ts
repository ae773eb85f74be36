import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FfmpegSource } from "../edge/capture/ffmpeg-source.ts";
import { DEFAULT_LINE_OPTIONS } from "../edge/count/line-counter.ts";
import { DEFAULT_ZONE_OPTIONS } from "../edge/count/zone-counter.ts";
import type { IntervalCounts } from "../edge/domain/types.ts";
import { Pipeline } from "../edge/pipeline/pipeline.ts";
import { orientationBin, SceneCheck, type SceneState } from "../edge/scene/scene-check.ts";
import { DEFAULT_TRACKER_OPTIONS } from "../edge/track/byte-tracker.ts";
import { DEFAULT_MODE_OPTIONS } from "../edge/track/mode-of-travel.ts";
import { dataPath, describeWithAssets } from "./helpers/assets.ts";

const run = promisify(execFile);

/** Every state the check raised or cleared over a clip, with the seconds into the clip. */
interface Replay {
  readonly events: { state: SceneState; raised: boolean; atSec: number }[];
  readonly intervals: IntervalCounts[];
  readonly frames: number;
  readonly learnt: boolean;
}

/**
 * Replays a clip through the capture stage as the counter does (raw RGB at a YOLO input's size,
 * replay timestamps) and the scene check, and counts the frames' scene states into 10 s intervals
 * (no detector: the intervals' quality is what is looked at).
 */
async function replay(path: string): Promise<Replay> {
  const source = new FfmpegSource({
    input: path,
    inputKind: "file",
    mode: "replay",
    fps: 10,
    width: 640,
    height: 640,
    stretch: false,
    replayStartMs: 0,
  });
  const check = new SceneCheck();
  const pipeline = new Pipeline(
    {
      tracker: DEFAULT_TRACKER_OPTIONS,
      modes: DEFAULT_MODE_OPTIONS,
      line: DEFAULT_LINE_OPTIONS,
      zone: DEFAULT_ZONE_OPTIONS,
      aggregation: { deviceId: "scene", periodSec: 10, modes: ["pedestrian"], maxFrameGapSec: 2 },
    },
    { lines: [], zones: [] },
  );
  pipeline.begin(0);
  const events: Replay["events"] = [];
  const intervals: IntervalCounts[] = [];
  let frames = 0;
  let last = 0;
  for await (const frame of source.frames(new AbortController().signal)) {
    const pixels = frame.pixels;
    if (pixels.kind !== "rgb") throw new Error("the ffmpeg source delivers raw RGB");
    const flags = check.observe(pixels.data, pixels.width, pixels.height, frame.tsMs);
    for (const c of check.changes) events.push({ state: c.state, raised: c.raised, atSec: c.atMs / 1000 });
    intervals.push(...pipeline.step(frame, [], flags).intervals);
    frames++;
    last = frame.tsMs;
  }
  intervals.push(...pipeline.close(last + 100));
  return { events, intervals, frames, learnt: !check.learning };
}

describe("orientationBin", () => {
  it.each([
    [1, 0, 0],
    [1, 0.3, 0],
    [1, 0.6, 1],
    [1, 1.5, 2],
    [0.1, 1, 3],
    [-0.1, 1, 4],
    [-1, 1.5, 5],
    [-1, 0.6, 6],
    [-1, 0.1, 7],
    [-1, 0, 0], // the opposite direction is the same orientation
    [0.2, -1, 4],
    [-1, -0.3, 0],
  ])("(%d, %d) -> bin %d", (dx, dy, bin) => {
    expect(orientationBin(dx, dy)).toBe(bin);
    const deg = ((Math.atan2(dy, dx) * 180) / Math.PI + 180) % 180;
    expect(Math.min(7, Math.floor(deg / 22.5))).toBe(bin);
  });
});

const CLEAN_CLIPS = [
  "pets09-s2l1/pets09-s2l1.avi",
  "tud-campus/tud-campus.mp4",
  "sample-videos/one-by-one-person-detection.mp4",
  "tally-highway/Traffic.mp4",
  "tally-junction-5s/Testvideo_testvideo_1_2020-02-20_12-04-12.mkv",
  "tally-junction-cars-cyclist/Testvideo_Cars-Cyclist_FR20_2020-01-01_00-00-00.mp4",
  "tally-junction-cars-truck/Testvideo_Cars-Truck_FR20_2020-01-01_00-00-00.mp4",
  "intel-person-bicycle-car/person-bicycle-car-detection.mp4",
];

describeWithAssets("scene check on the shared clips", CLEAN_CLIPS.map(dataPath), () => {
  it.concurrent.each(CLEAN_CLIPS)(
    "raises nothing on %s",
    async (clip) => {
      const r = await replay(dataPath(clip));
      expect(r.frames).toBeGreaterThan(50);
      expect(r.events).toEqual([]);
      for (const iv of r.intervals) expect(iv.quality.blindSec).toBe(0);
    },
    60_000,
  );
});

const PETS = dataPath("pets09-s2l1/pets09-s2l1.avi");
/** The injected fault spans these seconds of the 50 s clip made from PETS. */
const FAULT_FROM = 20;
const FAULT_TO = 35;
const during = `enable='between(t,${FAULT_FROM},${FAULT_TO})'`;

/** ffmpeg filters that make the fault, and the state that must say so. */
const FAULTS: readonly { name: string; filter: string; state: SceneState }[] = [
  { name: "darkened", filter: `lutrgb=r=val*0.08:g=val*0.08:b=val*0.08:${during}`, state: "dark" },
  { name: "blown out", filter: `eq=brightness=0.6:${during}`, state: "overexposed" },
  { name: "blurred", filter: `gblur=sigma=4:${during}`, state: "obscured" },
  {
    name: "covered",
    filter: `drawbox=x=0:y=0:w=iw:h=ih:color=0x807060:t=fill:${during}`,
    state: "obscured",
  },
  {
    name: "half covered",
    filter: `drawbox=x=0:y=0:w=iw/2:h=ih:color=0x303030:t=fill:${during}`,
    state: "obscured",
  },
  {
    name: "frozen",
    filter: `split[a][b];[a][b]freezeframes=first=${FAULT_FROM * 10}:last=${FAULT_TO * 10}:replace=${FAULT_FROM * 10}`,
    state: "frozen",
  },
  {
    name: "shifted",
    filter: `crop=w=iw*0.85:h=ih*0.85:x='if(between(t,${FAULT_FROM},${FAULT_TO}),iw*0.15,0)':y=0`,
    state: "moved",
  },
  { name: "turned", filter: `rotate=a='if(between(t,${FAULT_FROM},${FAULT_TO}),0.12,0)'`, state: "moved" },
];

describeWithAssets("scene check on faults injected into PETS", [PETS], () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "scene-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The first 50 s of PETS through `filter`, encoded as a camera's H.264 stream would be. */
  async function faulty(name: string, filter: string): Promise<string> {
    const out = join(dir, `${name.replace(/\W/g, "-")}.mp4`);
    await run("ffmpeg", [
      ...["-v", "error", "-y", "-t", "50", "-i", PETS],
      ...["-filter_complex", `[0:v]${filter},scale=640:480[v]`, "-map", "[v]"],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-an", out],
    ]);
    return out;
  }

  it.concurrent.each(FAULTS)(
    "$name: $state raised within 10 s of the fault and cleared within 10 s after it, nothing else",
    async ({ name, filter, state }) => {
      const r = await replay(await faulty(name, filter));
      const raised = r.events.filter((e) => e.raised);
      const cleared = r.events.filter((e) => !e.raised);
      expect(raised.map((e) => e.state)).toEqual([state]);
      expect(cleared.map((e) => e.state)).toEqual([state]);
      expect(raised[0]?.atSec).toBeGreaterThanOrEqual(FAULT_FROM);
      expect(raised[0]?.atSec).toBeLessThanOrEqual(FAULT_FROM + 10);
      expect(cleared[0]?.atSec).toBeGreaterThanOrEqual(FAULT_TO);
      expect(cleared[0]?.atSec).toBeLessThanOrEqual(FAULT_TO + 10);

      // the intervals of the fault are flagged: the seconds from raising to clearing are blind, in
      // the state, and not in the coverage; the rest of the clip is seen
      const from = raised[0]?.atSec ?? 0;
      const to = cleared[0]?.atSec ?? 0;
      expect(r.intervals).toHaveLength(5);
      for (const iv of r.intervals) {
        const overlapSec = Math.max(0, Math.min(to, iv.endMs / 1000) - Math.max(from, iv.startMs / 1000));
        const q = iv.quality;
        expect(Math.abs((q.blindSec ?? -1) - overlapSec)).toBeLessThan(0.15);
        expect(Math.abs((q.scene?.[`${state}Sec`] ?? -1) - overlapSec)).toBeLessThan(0.15);
        expect(Math.abs(q.coverageSec + overlapSec - 10)).toBeLessThan(0.25);
        expect(q.coverage).toBeCloseTo(q.coverageSec / 10, 2);
      }
    },
    60_000,
  );

  it.concurrent("dusk: dark raised once the light has fallen to a quarter, not while half is left", async () => {
    // a linear fade to black from 15 s over 20 s: half the light at 25 s, a quarter at 30 s
    const r = await replay(await faulty("dusk", "fade=out:st=15:d=20"));
    expect(r.learnt).toBe(true);
    const raised = r.events.filter((e) => e.raised);
    expect(raised.map((e) => e.state)).toEqual(["dark"]);
    expect(raised[0]?.atSec).toBeGreaterThan(25);
    expect(raised[0]?.atSec).toBeLessThanOrEqual(30 + 10);
  }, 60_000);
});
