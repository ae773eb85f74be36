import sharp from "sharp";
import { describe, expect, it } from "vitest";
import type { Frame } from "../edge/domain/types.ts";
import type { ViewRect } from "../edge/domain/view.ts";
import {
  DEFAULT_SCENE_OPTIONS,
  SCENE_FLAG,
  type SceneChange,
  SceneCheck,
} from "../edge/scene/scene-check.ts";
import { type SceneNormals, SceneWatch } from "../edge/scene/scene-watch.ts";

const W = 128;
const H = 96;
const FPS = 10;
const T0 = Date.UTC(2026, 2, 1, 12);

/** A textured view (so that every state can be judged), with a little sensor noise per frame. */
function picture(seq: number, brightness = 1): Buffer {
  const rgb = Buffer.alloc(W * H * 3);
  let seed = seq * 7919 + 1;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const texture = ((x >> 3) + (y >> 3)) % 2 === 0 ? 70 : 180;
      const v = Math.max(0, Math.min(255, (texture + 40 * Math.sin(x / 5) + (seed % 9) - 4) * brightness));
      rgb.fill(Math.round(v), (y * W + x) * 3, (y * W + x) * 3 + 3);
    }
  return rgb;
}

function frame(seq: number, o: { brightness?: number; view?: ViewRect } = {}): Frame {
  return {
    seq,
    tsMs: T0 + (seq * 1000) / FPS,
    monoMs: (seq * 1000) / FPS,
    width: 1280,
    height: 960,
    ...(o.view ? { view: o.view } : {}),
    pixels: { kind: "rgb", data: picture(seq, o.brightness), width: W, height: H },
  };
}

/** Normals kept in memory, with every save written down. */
function memoryNormals(): SceneNormals & { readonly saved: string[]; readonly kept: Map<string, string> } {
  const kept = new Map<string, string>();
  const saved: string[] = [];
  return {
    kept,
    saved,
    sceneNormal: (view) => kept.get(view),
    saveSceneNormal: (view, normal) => {
      saved.push(view);
      kept.set(view, normal);
    },
  };
}

interface Watched {
  readonly watch: SceneWatch;
  readonly logs: { level: "info" | "warn"; msg: string; fields: Record<string, unknown> }[];
  readonly reports: { changes: SceneChange[]; flags: number }[];
}

function watched(normals: SceneNormals | undefined): Watched {
  const logs: Watched["logs"] = [];
  const reports: Watched["reports"] = [];
  const entry = (level: "info" | "warn") => (a: unknown, b?: string) => {
    if (typeof a === "string") logs.push({ level, msg: a, fields: {} });
    else logs.push({ level, msg: b ?? "", fields: a as Record<string, unknown> });
  };
  const watch = new SceneWatch(
    {
      normals: () => normals,
      log: { info: entry("info"), warn: entry("warn") } as never,
      changed: (changes, flags) => reports.push({ changes: [...changes], flags }),
    },
    new SceneCheck({ ...DEFAULT_SCENE_OPTIONS, onsetSec: 1, clearSec: 1, learnSec: 1 }),
  );
  return { watch, logs, reports };
}

/** Frames `from` to `to` (exclusive) through the watch; the flags of the last. */
function feed(watch: SceneWatch, from: number, to: number, o: Parameters<typeof frame>[1] = {}): number {
  let flags = 0;
  for (let seq = from; seq < to; seq++) {
    const checked = watch.observe(frame(seq, o));
    if (typeof checked !== "number") throw new Error("a raw frame is checked at once");
    flags = checked;
  }
  return flags;
}

describe("the scene watch of a running counter", () => {
  it("keeps what it learnt of a healthy view once learnt and then every minute, per part of the view", () => {
    const normals = memoryNormals();
    const { watch } = watched(normals);
    let seq = 0;
    while (normals.saved.length === 0 && seq < 100) {
      expect(watch.check.learning).toBe(true);
      feed(watch, seq, ++seq);
    }
    // kept as soon as it was learnt (learnSec 1 at 10 fps)
    expect(seq).toBeLessThan(15);
    expect(watch.check.learning).toBe(false);
    expect(normals.saved).toEqual(["0,0,1,1"]);
    expect(JSON.parse(normals.kept.get("0,0,1,1") ?? "{}")).toMatchObject({
      version: 1,
      width: W,
      height: H,
    });
    // a minute of frame time later, not before
    const keptAt = seq - 1;
    feed(watch, seq, keptAt + 60 * FPS);
    expect(normals.saved).toHaveLength(1);
    feed(watch, keptAt + 60 * FPS, keptAt + 60 * FPS + 1);
    expect(normals.saved).toHaveLength(2);
    // frames cropped to another part of the view: learnt afresh and kept under that part's key
    const region = { x: 0.25, y: 0.5, width: 0.5, height: 0.5 };
    feed(watch, 1000, 1001, { view: region });
    expect(watch.check.learning).toBe(true);
    feed(watch, 1001, 1030, { view: region });
    expect(normals.saved.at(-1)).toBe("0.25,0.5,0.5,0.5");
  });

  it("checks every raw frame, and at most five JPEG frames per second of camera time (the frames between share the last result)", async () => {
    const { watch } = watched(memoryNormals());
    const check = watch.check;
    const checkedAt: number[] = [];
    const observe = check.observe.bind(check);
    check.observe = (rgb, width, height, tsMs) => {
      checkedAt.push(tsMs);
      return observe(rgb, width, height, tsMs);
    };
    const at30fps = (seq: number, o: Parameters<typeof frame>[1] = {}): Frame => ({
      ...frame(seq, o),
      tsMs: T0 + (seq * 1000) / 30,
    });
    for (let seq = 0; seq < 30; seq++) watch.observe(at30fps(seq));
    expect(checkedAt).toHaveLength(30);
    const jpeg = await sharp(picture(0), { raw: { width: W, height: H, channels: 3 } })
      .jpeg()
      .toBuffer();
    checkedAt.length = 0;
    // 3 s of a 30 fps JPEG camera: every 6th frame (200 ms) is decoded and checked, 15 instead of 90
    for (let seq = 30; seq < 120; seq++) {
      const checked = watch.observe({ ...at30fps(seq), pixels: { kind: "encoded", data: jpeg } });
      if (typeof checked === "number") expect(checked).toBe(check.current);
      else await checked;
    }
    expect(checkedAt).toHaveLength(15);
    expect(checkedAt.slice(1).map((t, i) => t - (checkedAt[i] as number))).toEqual(Array(14).fill(200));
    // raw frames of a part of the view right after: checked at once
    watch.observe(at30fps(120, { view: { x: 0.25, y: 0.5, width: 0.5, height: 0.5 } }));
    expect(checkedAt.at(-1)).toBe(T0 + 4000);
  });

  it("a restart resumes the kept normal: judged against it from the first frame, and says so", () => {
    const normals = memoryNormals();
    feed(watched(normals).watch, 0, 30);
    const { watch, logs } = watched(normals);
    feed(watch, 100, 101);
    expect(watch.check.learning).toBe(false);
    expect(logs.map((l) => l.msg)).toEqual(["scene normal resumed from the last run"]);
  });

  it("after set-up the kept normal is not resumed: the approved view is learnt and kept afresh", () => {
    const normals = memoryNormals();
    feed(watched(normals).watch, 0, 30);
    const before = normals.kept.get("0,0,1,1");
    const { watch, logs } = watched(normals);
    watch.setupEnded(T0);
    feed(watch, 100, 101);
    expect(watch.check.learning).toBe(true);
    expect(logs).toEqual([]);
    feed(watch, 101, 130);
    expect(normals.saved).toHaveLength(2);
    expect(normals.kept.get("0,0,1,1")).not.toBe(before);
  });

  it("an unreadable kept record, or no database, is learnt afresh without a failure", () => {
    const broken: SceneNormals = {
      sceneNormal: () => "{ not json",
      saveSceneNormal: () => {
        throw new Error("disk full");
      },
    };
    for (const normals of [broken, undefined]) {
      const { watch, logs } = watched(normals);
      feed(watch, 0, 1);
      expect(watch.check.learning).toBe(true);
      expect(feed(watch, 1, 30)).toBe(0);
      expect(watch.check.learning).toBe(false);
      expect(logs).toEqual([]);
    }
  });

  it("reports a state raised and cleared: logged with the measures (no pixel), then handed on", () => {
    const { watch, logs, reports } = watched(memoryNormals());
    feed(watch, 0, 30);
    expect(watch.status()).toEqual({ states: [], since: null, learning: false });
    const flags = feed(watch, 30, 60, { brightness: 0.05 });
    expect(flags & SCENE_FLAG.dark).toBe(SCENE_FLAG.dark);
    expect(reports).toHaveLength(1);
    expect(reports[0]?.changes.map((c) => [c.state, c.raised])).toEqual([["dark", true]]);
    expect(reports[0]?.flags).toBe(flags);
    const status = watch.status();
    expect(status.states).toEqual(["dark"]);
    expect(Date.parse(status.since ?? "")).toBe(reports[0]?.changes[0]?.atMs);
    expect(logs[0]).toMatchObject({ level: "warn", msg: "scene dark: the counter cannot see" });
    expect(Object.keys(logs[0]?.fields ?? {}).sort()).toEqual(
      ["at", "clippedShare", "layoutChange", "meanLuma", "state", "textureLostShare"].sort(),
    );
    expect(feed(watch, 60, 90)).toBe(0);
    expect(logs.at(-1)).toMatchObject({ level: "info", msg: "scene dark cleared" });
    expect(reports.at(-1)?.flags).toBe(0);
  });

  it("set-up ending clears the raised states and reports that", () => {
    const { watch, reports } = watched(memoryNormals());
    feed(watch, 0, 30);
    feed(watch, 30, 60, { brightness: 0.05 });
    watch.setupEnded(T0 + 6000);
    expect(reports.at(-1)?.changes.map((c) => [c.state, c.raised])).toEqual([["dark", false]]);
    expect(watch.status()).toMatchObject({ states: [], learning: true });
  });

  it("a JPEG frame is decoded small and checked; one that cannot be decoded leaves the states as they were", async () => {
    const { watch } = watched(memoryNormals());
    const jpeg = await sharp(picture(0), { raw: { width: W, height: H, channels: 3 } })
      .jpeg()
      .toBuffer();
    const encoded = (seq: number, data: Buffer): Frame => ({
      ...frame(seq),
      pixels: { kind: "encoded", data },
    });
    const checked = watch.observe(encoded(0, jpeg));
    expect(checked).toBeInstanceOf(Promise);
    expect(await checked).toBe(0);
    expect(watch.check.learning).toBe(true);
    // 200 ms later: the next JPEG frame checked
    const broken = watch.observe(encoded(2, Buffer.from("not a jpeg")));
    expect(broken).toBeInstanceOf(Promise);
    expect(await broken).toBe(0);
  });
});
