import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DetectionRegion, type OpenedCamera } from "../edge/app/detection-region.ts";
import type { SourceKind } from "../edge/capture/open.ts";
import type { Config } from "../edge/config/schema.ts";
import type { Frame } from "../edge/domain/types.ts";
import { WHOLE_VIEW } from "../edge/domain/view.ts";

/** A vertical line near the right edge: the region around it is a narrow strip there. */
const RIGHT_LINE = {
  lines: [
    {
      points: [
        [0.8, 0],
        [0.8, 0.4],
      ] as [number, number][],
    },
  ],
  zones: [],
};

interface Setting {
  region?: Config["camera"]["region"];
  source?: string;
}

/** A region over the right line with a square model input, and what it did written down. */
function regionFor(s: Setting = {}) {
  const logs: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const entry = (level: string) => (fields: Record<string, unknown>, msg: string) =>
    logs.push({ level, msg, fields });
  let restarts = 0;
  let captureRestarts = 0;
  const state = { setup: false, inputAspect: 1 as number | undefined };
  const region = new DetectionRegion(
    { region: s.region ?? "lines", regionMargin: 0.1, source: s.source ?? "cam", stallTimeoutSec: 10 },
    {
      geometry: () => RIGHT_LINE,
      wholeViewWanted: () => state.setup,
      inputAspect: () => state.inputAspect,
    },
    { info: entry("info"), warn: entry("warn") } as never,
    { inc: () => restarts++ },
  );
  const camera = (kind: SourceKind, replay: boolean): OpenedCamera => ({
    kind,
    replay,
    source: { restart: () => captureRestarts++ },
  });
  return {
    region,
    logs,
    state,
    camera,
    restarts: () => restarts,
    captureRestarts: () => captureRestarts,
  };
}

const frame = (view?: Frame["view"]): Frame => ({
  seq: 0,
  tsMs: 0,
  monoMs: 0,
  width: 640,
  height: 360,
  ...(view ? { view } : {}),
  pixels: { kind: "encoded", data: Buffer.alloc(0) },
});

const aroundRightLine = (v: Frame["view"]) =>
  v !== undefined && v.x < 0.8 && v.x + v.width > 0.8 && v.width < 0.5;

describe("the detection region of a running counter", () => {
  it("around the lines: the whole view until a live camera's first frame tells the shape, then cropped, restarted once", async () => {
    const r = regionFor();
    await r.region.cameraOpened(r.camera("v4l2", false));
    r.region.start();
    expect(r.region.current).toEqual(WHOLE_VIEW);
    expect(r.logs.map((l) => [l.msg, l.fields.region])).toEqual([["detection region", "whole"]]);
    r.region.frameSeen(frame());
    expect(aroundRightLine(r.region.current)).toBe(true);
    expect([r.restarts(), r.captureRestarts()]).toEqual([1, 1]);
    expect(r.logs.at(-1)?.msg).toBe("detection region changed");
    // a cropped frame, or a second frame, teaches nothing more and restarts nothing
    const cropped = r.region.current;
    r.region.frameSeen(frame({ x: 0.1, y: 0.1, width: 0.2, height: 0.2 }));
    r.region.frameSeen(frame());
    r.region.changed();
    expect(r.region.current).toEqual(cropped);
    expect(r.restarts()).toBe(1);
  });

  it("a cropped frame does not tell the whole view's shape", () => {
    const r = regionFor();
    r.region.start();
    r.region.frameSeen(frame({ x: 0.5, y: 0, width: 0.5, height: 1 }));
    expect(r.region.current).toEqual(WHOLE_VIEW);
  });

  it("set-up shows the whole view and gives the region back after it; each change restarts a live crop", async () => {
    const r = regionFor();
    await r.region.cameraOpened(r.camera("v4l2", false));
    r.region.start();
    r.region.frameSeen(frame());
    const cropped = r.region.current;
    expect(r.captureRestarts()).toBe(1);
    r.state.setup = true;
    r.region.changed();
    expect(r.region.current).toEqual(WHOLE_VIEW);
    r.state.setup = false;
    r.region.changed();
    expect(r.region.current).toEqual(cropped);
    expect(r.captureRestarts()).toBe(3);
  });

  it("a replay keeps the crop it started with, and a JPEG source is never restarted (the detector crops it)", async () => {
    for (const [kind, replay] of [
      ["ffmpeg-file", true],
      ["folder", false],
      ["mjpeg-http", false],
    ] as const) {
      const r = regionFor({ region: [0.1, 0.1, 0.5, 0.5] });
      await r.region.cameraOpened(r.camera(kind, replay));
      r.region.start();
      expect(r.region.current).not.toEqual(WHOLE_VIEW);
      r.state.setup = true;
      r.region.changed();
      expect(r.region.current).toEqual(WHOLE_VIEW);
      expect([r.restarts(), r.captureRestarts()]).toEqual([0, 0]);
    }
  });

  it("tells the page the setting and the model input's shape, null before the model is loaded", () => {
    const r = regionFor();
    expect(r.region.info()).toEqual({ setting: "lines", margin: 0.1, inputAspect: 1 });
    r.state.inputAspect = undefined;
    expect(r.region.info().inputAspect).toBeNull();
  });

  it("a file's shape is probed before its first frame: cropped from the start", async () => {
    const clip = join(mkdtempSync(join(tmpdir(), "region-probe-")), "clip.mp4");
    const made = spawnSync("ffmpeg", [
      ...["-v", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=5", "-t", "1"],
      ...["-pix_fmt", "yuv420p", "-y", clip],
    ]);
    expect(made.status).toBe(0);
    const r = regionFor({ source: clip });
    await r.region.cameraOpened(r.camera("ffmpeg-file", true));
    r.region.start();
    expect(aroundRightLine(r.region.current)).toBe(true);
    // 0.4 high around the line, as wide as high in pixels on a 16:9 picture
    expect(r.region.current.width).toBeCloseTo((0.5 * 9) / 16, 3);
  });

  it("a probe that fails is logged; the region waits for the first frame", async () => {
    const r = regionFor({ source: "/nonexistent/clip.mp4" });
    await r.region.cameraOpened(r.camera("ffmpeg-file", false));
    r.region.start();
    expect(r.region.current).toEqual(WHOLE_VIEW);
    expect(r.logs[0]).toMatchObject({ level: "warn", msg: "the picture's size is not known yet" });
    r.region.frameSeen(frame());
    expect(aroundRightLine(r.region.current)).toBe(true);
  });
});
