import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CounterRuntime } from "../edge/app/runtime.ts";
import { ffmpegArgs } from "../edge/capture/ffmpeg.ts";
import { FfmpegSource } from "../edge/capture/ffmpeg-source.ts";
import type { FrameSource } from "../edge/capture/source.ts";
import { SupervisedSource } from "../edge/capture/supervisor.ts";
import type { Detector } from "../edge/detect/detector.ts";
import { loadDetector } from "../edge/detect/load-detector.ts";
import { OnnxDetector } from "../edge/detect/onnx-detector.ts";
import { DEFAULT_COUNTED_CLASSES } from "../edge/domain/classes.ts";
import { iou } from "../edge/domain/geometry.ts";
import type { Detection, Frame } from "../edge/domain/types.ts";
import {
  detectionView,
  shapedLike,
  type ViewRect,
  viewAround,
  viewFromCorners,
  WHOLE_VIEW,
} from "../edge/domain/view.ts";
import type { RelativeLine } from "../edge/pipeline/pipeline.ts";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath } from "./helpers/assets.ts";
import { waitFor } from "./helpers/brokers.ts";
import { deviceConfig } from "./helpers/device-config.ts";

const line = (points: [number, number][]): RelativeLine => ({ name: "l", points, from: "a", to: "b" });

/** A clip made by ffmpeg from one of its synthetic sources (`lavfi`). */
function synthClip(prefix: string, source: string, seconds: number): string {
  const clip = join(mkdtempSync(join(tmpdir(), prefix)), "clip.mp4");
  const r = spawnSync("ffmpeg", [
    ...["-v", "error", "-f", "lavfi", "-i", source, "-t", String(seconds)],
    ...["-pix_fmt", "yuv420p", "-y", clip],
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg could not make the test clip: ${r.stderr}`);
  return clip;
}

/** An ffmpeg source's options for a file, into YOLOX-Nano's 416x416 input. */
const fileInput = (input: string, mode: "replay" | "live") =>
  ({ input, inputKind: "file", mode, fps: 25, width: 416, height: 416, stretch: false }) as const;

describe("detection region", () => {
  it("around lines: their rectangle plus the margin, clamped to the view, each side at least a quarter", () => {
    expect(
      viewAround(
        [
          [0.5, 0.1],
          [0.7, 0.4],
        ],
        0.1,
        0.25,
      ),
    ).toEqual({ x: 0.4, y: 0, width: 0.4, height: 0.5 });
    // a short vertical line: widened about its centre to the minimum side
    expect(
      viewAround(
        [
          [0.9, 0.5],
          [0.9, 0.6],
        ],
        0,
        0.25,
      ),
    ).toEqual({ x: 0.75, y: 0.425, width: 0.25, height: 0.25 });
    expect(viewAround([], 0.1, 0.25)).toEqual(WHOLE_VIEW);
  });

  it("takes the detector input's shape where the scene has room, never beyond the view", () => {
    // 16:9 scene, square input: a wide strip grows in height (here to all of it)
    const strip = { x: 0.05, y: 0.45, width: 0.93, height: 0.2 };
    expect(shapedLike(strip, 16 / 9, 1)).toEqual({ x: 0.05, y: 0, width: 0.93, height: 1 });
    // a tall region grows in width, centred: 0.5 high on a 16:9 scene is 0.28125 of the width
    const tall = shapedLike({ x: 0.5, y: 0.2, width: 0.1, height: 0.5 }, 16 / 9, 1);
    expect(tall.width).toBeCloseTo(0.2813, 4);
    expect(tall.x + tall.width / 2).toBeCloseTo(0.55, 3);
  });

  it("camera.region: whole, lines (whole until the scene's shape is known), or given corners", () => {
    const geometry = {
      lines: [
        line([
          [0.8, 0],
          [0.8, 0.4],
        ]),
      ],
      zones: [],
    };
    const shape = { sceneAspect: 16 / 9, inputAspect: 1 };
    expect(detectionView("whole", 0.1, geometry, shape)).toEqual(WHOLE_VIEW);
    expect(detectionView("lines", 0.1, geometry, undefined)).toEqual(WHOLE_VIEW);
    const v = detectionView("lines", 0.1, geometry, shape);
    // 0.7..0.9 x 0..0.5, then as wide as it is high in pixels: 0.5 * 9/16 = 0.28125 of the width
    expect(v.y).toBe(0);
    expect(v.height).toBe(0.5);
    expect(v.width).toBeCloseTo(0.2813, 4);
    expect(v.x + v.width).toBeLessThanOrEqual(1);
    expect(detectionView([0.9, 0.5, 0.6, 0], 0.1, geometry, shape)).toEqual(
      viewFromCorners([0.6, 0, 0.9, 0.5]),
    );
  });

  it("ffmpeg crops before it scales, in whole input pixels", () => {
    const args = ffmpegArgs({
      ...fileInput("cam.mp4", "replay"),
      view: { x: 0.5, y: 0.25, width: 0.25, height: 0.5 },
    });
    const vf = args[args.indexOf("-vf") + 1]!;
    expect(vf).toMatch(
      /^crop=w=trunc\(iw\*0\.25\):h=trunc\(ih\*0\.5\):x=trunc\(iw\*0\.5\):y=trunc\(ih\*0\.25\):exact=1,scale=/,
    );
  });
});

async function firstFrames(source: FrameSource, n: number): Promise<Frame[]> {
  const ac = new AbortController();
  const out: Frame[] = [];
  for await (const f of source.frames(ac.signal)) {
    out.push({ ...f, pixels: { ...f.pixels, data: Buffer.from(f.pixels.data) } } as Frame);
    if (out.length >= n) break;
  }
  ac.abort();
  return out;
}

describe("capture cropped to the region", () => {
  let clip = "";
  beforeAll(() => {
    // 1280x720, black left half, white right half
    clip = synthClip(
      "region-",
      "color=c=black:s=1280x720:r=25,drawbox=x=640:y=0:w=640:h=720:color=white:t=fill",
      1,
    );
  });

  it("frames keep the whole view's size; the pixels show the region, at the detector's input size", async () => {
    const base = fileInput(clip, "replay");
    const [whole] = await firstFrames(new FfmpegSource(base), 1);
    const view = { x: 0.375, y: 0, width: 0.25, height: 1 };
    const [cropped] = await firstFrames(new FfmpegSource({ ...base, view }), 1);
    expect([cropped!.width, cropped!.height]).toEqual([whole!.width, whole!.height]);
    expect(cropped!.view).toEqual(view); // 480..800 of 1280: whole pixels, so exactly the request
    const px = cropped!.pixels as { data: Buffer; width: number; height: number };
    // 320x720 of the camera, fitted into 416x416: 185x416, more pixels than the 104 of the whole view
    expect([px.width, px.height]).toEqual([185, 416]);
    const at = (x: number, y: number) => px.data[(y * px.width + x) * 3]!;
    expect(at(20, 200)).toBeLessThan(40); // camera x 515: black
    expect(at(165, 200)).toBeGreaterThan(215); // camera x 765: white
  });

  it("a supervised source restarted for a new region starts afresh at once, without a failure", async () => {
    let starts = 0;
    const source = new SupervisedSource(
      () => {
        starts++;
        return new FfmpegSource({
          ...fileInput(clip, "live"),
          view: starts === 1 ? undefined : { x: 0.5, y: 0, width: 0.5, height: 1 },
        });
      },
      { stallTimeoutSec: 10, backoffMinMs: 60_000, backoffMaxMs: 60_000, restartOnEnd: true },
    );
    const ac = new AbortController();
    const frames: Frame[] = [];
    for await (const f of source.frames(ac.signal)) {
      frames.push(f);
      if (frames.length === 2) source.restart();
      if (f.view) break;
    }
    ac.abort();
    // a backoff of a minute would have outlasted the test: the restart did not wait for one
    expect(starts).toBe(2);
    expect(frames.at(-1)!.view).toEqual({ x: 0.5, y: 0, width: 0.5, height: 1 });
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i));
    expect(source.state()).toMatchObject({ state: "up", restarts: 0 });
  });
});

describeWithAssets(
  "the detector in a region",
  [modelPath("yolox_nano.onnx"), dataPath("images/street.jpg")],
  () => {
    let detector: OnnxDetector;
    beforeAll(async () => {
      detector = await OnnxDetector.load({
        model: "yolox-nano",
        modelDir: MODEL_DIR,
        threads: 2,
        graphOptimization: "all",
        executionProviders: ["cpu"],
        confidence: 0.3,
        iou: 0.45,
        classes: DEFAULT_COUNTED_CLASSES,
        maxDetections: 300,
      });
    });
    afterAll(() => detector?.release());

    const jpeg = () => readFileSync(dataPath("images/street.jpg"));
    const matched = (inside: readonly Detection[], whole: readonly Detection[]) =>
      inside.filter((d) => whole.some((w) => w.label === d.label && iou(w.box, d.box) > 0.6)).length;

    it("an encoded image is cropped to the region; boxes come back in the whole image's pixels", async () => {
      const { width, height } = await sharp(jpeg()).metadata();
      const scene = { width: width!, height: height! };
      const view = { x: 0, y: 0.2, width: 0.6, height: 0.8 };
      const whole = await detector.detect({ kind: "encoded", data: jpeg() });
      const inside = await detector.detect({ kind: "encoded", data: jpeg() }, scene, view);
      expect(inside.length).toBeGreaterThan(0);
      for (const d of inside) expect(d.box.x1).toBeLessThanOrEqual(0.6 * scene.width + 1);
      // what the whole image shows well inside the region is found again, in the same place (the
      // region's larger scale may find more, and part what the whole view merged)
      const x2 = view.width * scene.width - 10;
      const y1 = view.y * scene.height + 10;
      const within = whole.filter((d) => d.box.x2 < x2 && d.box.y1 > y1 && d.score > 0.7);
      expect(within.length).toBeGreaterThan(0);
      expect(matched(within, inside)).toBe(within.length);
    });

    it("raw frames a capture stage cropped map back the same way", async () => {
      const { width, height } = await sharp(jpeg()).metadata();
      const scene = { width: width!, height: height! };
      const view = { x: 0, y: 0.2, width: 0.6, height: 0.8 };
      const left = Math.trunc(view.x * scene.width);
      const top = Math.trunc(view.y * scene.height);
      const w = Math.trunc(view.width * scene.width);
      const h = Math.trunc(view.height * scene.height);
      const size = detector.frameSizeFor(w, h);
      const data = await sharp(jpeg())
        .extract({ left, top, width: w, height: h })
        .resize(size.width, size.height, { fit: "fill" })
        .removeAlpha()
        .raw()
        .toBuffer();
      const shows = {
        x: left / scene.width,
        y: top / scene.height,
        width: w / scene.width,
        height: h / scene.height,
      };
      const fromRaw = await detector.detect({ kind: "rgb", data, ...size }, scene, shows);
      const fromJpeg = await detector.detect({ kind: "encoded", data: jpeg() }, scene, view);
      expect(fromRaw.length).toBeGreaterThan(0);
      expect(matched(fromRaw, fromJpeg)).toBeGreaterThanOrEqual(Math.ceil(fromRaw.length * 0.8));
    });
  },
);

describeWithAssets("counter run: the region follows lines and set-up", [modelPath("yolox_nano.onnx")], () => {
  it("a live camera is cropped around the lines from its first frame, shows the whole view during set-up, and follows moved lines", async () => {
    const clip = synthClip("region-run-", "testsrc=size=640x360:rate=25", 30);
    const right = line([
      [0.8, 0],
      [0.8, 0.4],
    ]);
    const { config } = deviceConfig("region", "mqtt://127.0.0.1:1", {
      camera: { source: clip, mode: "live", fps: 10, region: "lines" },
      model: { id: "yolox-nano", dir: MODEL_DIR },
      lines: [right],
      mqtt: { enabled: false },
      api: { enabled: false },
    });
    const detector = await loadDetector(config.model);
    const views: (Frame["view"] | undefined)[] = [];
    const runtime = new CounterRuntime(config, {
      log: pino({ level: "silent" }),
      version: "test",
      detector,
      onFrame: (f) => views.push(f.view),
    });
    await runtime.start();
    const done = runtime.run();
    const croppedAround = (x: number) => (v: Frame["view"]) =>
      v !== undefined && v.x < x && v.x + v.width > x && v.width < 0.5;
    const after = async (what: string, test: (v: Frame["view"]) => boolean) => {
      const from = views.length;
      await waitFor(() => views.slice(from).some(test), 30_000, what);
    };
    try {
      // the picture's shape is read before the first frame: cropped from the start, no restart
      await after("frames cropped around the right line", croppedAround(0.8));
      expect(croppedAround(0.8)(views[0])).toBe(true);
      runtime.setup.start();
      await after("the whole view during set-up", (v) => v === undefined);
      runtime.setup.stop();
      await after("the crop again after set-up", croppedAround(0.8));
      runtime.replaceGeometry({
        lines: [
          {
            ...right,
            points: [
              [0.2, 0.6],
              [0.2, 1],
            ],
          },
        ],
        zones: [],
      });
      await after("frames cropped around the moved line", croppedAround(0.2));
      // each new region restarted the capture once (set-up on, off, the moved line), and says so
      const restarts = (
        await runtime.metrics.registry.getSingleMetric("counter_capture_region_restarts_total")?.get()
      )?.values[0]?.value;
      expect(restarts).toBe(3);
    } finally {
      runtime.requestStop();
      await done;
      await runtime.shutdown(0);
    }
  }, 120_000);
});

describeWithAssets(
  "counter run on JPEG frames: the detector crops them",
  [modelPath("yolox_nano.onnx"), dataPath("images/street.jpg")],
  () => {
    it("the region around the lines takes the images' shape from the first one, and every image is cropped", async () => {
      const dir = mkdtempSync(join(tmpdir(), "region-jpeg-"));
      const images = join(dir, "frames");
      mkdirSync(images);
      for (let i = 0; i < 4; i++) copyFileSync(dataPath("images/street.jpg"), join(images, `${i}.jpg`));
      const { config } = deviceConfig("region-jpeg", "mqtt://127.0.0.1:1", {
        camera: { source: images, region: "lines", regionMargin: 0 },
        model: { id: "yolox-nano", dir: MODEL_DIR },
        lines: [
          line([
            [0.8, 0.1],
            [0.8, 0.3],
          ]),
        ],
        mqtt: { enabled: false },
        api: { enabled: false },
      });
      const real = await loadDetector(config.model);
      const asked: (ViewRect | undefined)[] = [];
      // the real detector, with what the runtime asks of it written down
      const recording: Detector = {
        get info() {
          return real.info;
        },
        get lastTimings() {
          return real.lastTimings;
        },
        get maxInFlight() {
          return real.maxInFlight;
        },
        submit: (pixels, scene, view) => {
          asked.push(view);
          return real.submit(pixels, scene, view);
        },
        detect: (pixels, scene, view) => real.detect(pixels, scene, view),
        frameSizeFor: (w, h) => real.frameSizeFor(w, h),
        captureTarget: () => real.captureTarget(),
        release: () => real.release(),
      };
      const runtime = new CounterRuntime(config, {
        log: pino({ level: "silent" }),
        version: "test",
        detector: recording,
      });
      await runtime.start();
      await runtime.run();
      await runtime.shutdown(0);
      expect(asked).toHaveLength(4);
      // the first image tells the shape before it is detected in: square images, square model input,
      // 0.2 high around y 0.1-0.3 is widened to the minimum quarter, as wide as high
      for (const v of asked) expect(v).toEqual({ x: 0.675, y: 0.075, width: 0.25, height: 0.25 });
    }, 60_000);
  },
);
