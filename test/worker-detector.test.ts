import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism, getPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { decodeVideoFrames } from "../edge/capture/ffmpeg.ts";
import type { DetectorOptions } from "../edge/detect/detector.ts";
import { ModelLoadError } from "../edge/detect/model-file.ts";
import { OnnxDetector } from "../edge/detect/onnx-detector.ts";
import { ImageDecodeError } from "../edge/detect/preprocess.ts";
import { WorkerDetector } from "../edge/detect/worker-detector.ts";
import { DEFAULT_COUNTED_CLASSES } from "../edge/domain/classes.ts";
import type { Detection } from "../edge/domain/types.ts";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath } from "./helpers/assets.ts";

const options = (over: Partial<DetectorOptions> = {}): DetectorOptions => ({
  model: "yolox-nano",
  modelDir: MODEL_DIR,
  threads: 1,
  graphOptimization: "all",
  executionProviders: ["cpu"],
  confidence: 0.2,
  iou: 0.45,
  classes: DEFAULT_COUNTED_CLASSES,
  maxDetections: 300,
  ...over,
});

const clip = dataPath("pets09-s2l1/pets09-s2l1.avi");

describeWithAssets("inference in a worker thread", [modelPath("yolox_nano.onnx"), clip], () => {
  let inThread: OnnxDetector;
  let worker: WorkerDetector;
  beforeAll(async () => {
    [inThread, worker] = await Promise.all([OnnxDetector.load(options()), WorkerDetector.load(options())]);
  });
  afterAll(async () => {
    await inThread?.release();
    await worker?.release();
  });

  it("says where it runs and describes the same model", () => {
    expect(worker.info.runsIn).toBe("worker");
    expect(inThread.info.runsIn).toBe("main-thread");
    expect({ ...worker.info, runsIn: "main-thread" }).toEqual(inThread.info);
    expect(worker.captureTarget()).toEqual(inThread.captureTarget());
    expect(worker.frameSizeFor(768, 576)).toEqual(inThread.frameSizeFor(768, 576));
  });

  it("returns exactly the in-thread detections, frame by frame, with two frames in flight", async () => {
    const size = inThread.frameSizeFor(768, 576);
    const scene = { width: 768, height: 576 };
    const expected: Detection[][] = [];
    const inFlight: Promise<Detection[]>[] = [];
    let frames = 0;
    // the decoder hands out recycled buffers: each frame is consumed before the next is read
    for await (const rgb of decodeVideoFrames(clip, size.width, size.height)) {
      const pixels = { kind: "rgb" as const, data: rgb, width: size.width, height: size.height };
      expected.push(await inThread.detect(pixels, scene));
      inFlight.push((await worker.submit(pixels, scene)).detections);
      // await the frame before the one just submitted, as the runtime's loop does
      if (inFlight.length >= 2)
        expect(await inFlight[inFlight.length - 2]).toEqual(expected[inFlight.length - 2]);
      if (++frames === 40) break;
    }
    expect(await inFlight[inFlight.length - 1]).toEqual(expected[expected.length - 1]);
    expect(frames).toBe(40);
    expect(expected.flat().length).toBeGreaterThan(40 * 3);
    expect(worker.lastTimings.inferenceMs).toBeGreaterThan(0);
  });

  it("refuses a third frame while two are in flight, and goes on after", async () => {
    const size = inThread.frameSizeFor(768, 576);
    const black = { kind: "rgb" as const, data: Buffer.alloc(size.width * size.height * 3), ...size };
    const a = await worker.submit(black);
    const b = await worker.submit(black);
    await expect(worker.submit(black)).rejects.toThrow(/more than 2 frames/);
    expect(await a.detections).toEqual([]);
    expect(await b.detections).toEqual([]);
    expect(await worker.detect(black)).toEqual([]);
  });

  it("a frame that cannot be decoded is an ImageDecodeError on this side too, and the worker goes on", async () => {
    const broken = { kind: "encoded" as const, data: Buffer.from("not a jpeg at all") };
    await expect(worker.detect(broken)).rejects.toBeInstanceOf(ImageDecodeError);
    const size = inThread.frameSizeFor(768, 576);
    const black = { kind: "rgb" as const, data: Buffer.alloc(size.width * size.height * 3), ...size };
    await expect(worker.detect(black)).resolves.toEqual([]);
  });

  it.runIf(process.platform === "linux" && availableParallelism() >= 2)(
    "with the model's threads on every core it runs below the Node thread's priority; with a core left over, not",
    async () => {
      // nice values of this process's threads, from the kernel (field 19 of /proc/self/task/*/stat)
      const lowered = () =>
        readdirSync("/proc/self/task").filter((tid) => {
          const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
          const nice = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
          return nice > getPriority(0);
        }).length;
      expect(lowered()).toBe(0); // the worker of beforeAll has one thread on a 2+ core machine
      const everyCore = await WorkerDetector.load(options({ threads: 0 }));
      try {
        // the worker's thread and ONNX Runtime's pool threads, created after it gave way
        expect(lowered()).toBeGreaterThanOrEqual(availableParallelism());
      } finally {
        await everyCore.release();
      }
      expect(lowered()).toBe(0);
    },
  );

  it("a missing model is a ModelLoadError naming the file, as from the in-thread detector", async () => {
    const empty = mkdtempSync(join(tmpdir(), "no-model-"));
    const err = await WorkerDetector.load(options({ modelDir: empty })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toContain(join(empty, "yolox_nano.onnx"));
  });
});
