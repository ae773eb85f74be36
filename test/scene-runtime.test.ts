import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import pino from "pino";
import { afterAll, expect, it } from "vitest";
import { CounterRuntime } from "../edge/app/runtime.ts";
import type { CountsMessage, StatusMessage } from "../edge/publish/messages.ts";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath } from "./helpers/assets.ts";
import { startAedes, subscriber, waitFor } from "./helpers/brokers.ts";
import { deviceConfig } from "./helpers/device-config.ts";

const run = promisify(execFile);
const PETS = dataPath("pets09-s2l1/pets09-s2l1.avi");

describeWithAssets("counter run on a view that goes dark", [PETS, modelPath("yolox_nano.onnx")], () => {
  const dir = mkdtempSync(join(tmpdir(), "scene-run-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // 30 s of PETS, black from 10 s to 20 s (a cover, a power cut of the street lights)
  const darkFilter = "scale=640:480,lutrgb=r=val*0.05:g=val*0.05:b=val*0.05:enable='between(t,10,20)'";
  const input = ["-v", "error", "-y", "-t", "30", "-i", PETS, "-vf", darkFilter];

  it.each([
    {
      // the ffmpeg capture: raw RGB frames, checked as captured
      frames: "a video file",
      make: async () => {
        const clip = join(dir, "dark.mp4");
        await run("ffmpeg", [...input, "-c:v", "libx264", "-preset", "ultrafast", "-an", clip]);
        return clip;
      },
    },
    {
      // JPEG frames (MJPEG cameras, the Pi camera, image folders): decoded small for the check
      frames: "a folder of JPEG images",
      make: async () => {
        const folder = join(dir, "dark-jpeg");
        mkdirSync(folder);
        await run("ffmpeg", [...input, "-q:v", "4", join(folder, "%05d.jpg")]);
        return folder;
      },
    },
  ])(
    "$frames: logs the onset and the clearing, publishes them in the retained status, and counts the dark seconds as blind",
    async ({ make }) => {
      const clip = await make();
      const broker = await startAedes();
      const sub = await subscriber(broker.url, "city/scene-1/#");
      const { config } = deviceConfig("scene-1", broker.url, {
        camera: { source: clip, mode: "replay", fps: 10 },
        model: { id: "yolox-nano", dir: MODEL_DIR },
        aggregation: { periodSec: 10 },
        api: { enabled: false },
      });
      const logs: Record<string, unknown>[] = [];
      const sink = new Writable({
        write(chunk, _encoding, done) {
          for (const line of String(chunk).split("\n")) if (line) logs.push(JSON.parse(line));
          done();
        },
      });
      const runtime = new CounterRuntime(config, { log: pino({ level: "info" }, sink), version: "test" });
      try {
        await runtime.start();
        await runtime.run();
        await runtime.output.drained(5000);
        const statuses = () =>
          sub.messages
            .filter((m) => m.topic === "city/scene-1/status")
            .map((m) => JSON.parse(m.payload) as StatusMessage);
        await waitFor(
          () => statuses().some((s) => s.scene?.states.includes("dark")),
          10_000,
          "a status saying dark",
        );

        // one onset and one clearing in the log, with the state and the measures: no pixel
        const scene = logs.filter((l) => l.stage === "scene");
        expect(scene.map((l) => l.msg)).toEqual(["scene dark: the counter cannot see", "scene dark cleared"]);
        for (const l of scene)
          expect(Object.keys(l).sort()).toEqual(
            [
              "at",
              "clippedShare",
              "layoutChange",
              "level",
              "meanLuma",
              "msg",
              "pid",
              "hostname",
              "stage",
              "state",
              "textureLostShare",
              "time",
            ].sort(),
          );
        const raisedAt = Date.parse(String(scene[0]?.at));
        const clearedAt = Date.parse(String(scene[1]?.at));
        expect(clearedAt - raisedAt).toBeGreaterThan(8_000);
        expect(clearedAt - raisedAt).toBeLessThan(12_000);

        // the status went dark (retained) and back
        const withScene = statuses().filter((s) => s.online && s.scene);
        expect(withScene.some((s) => s.scene?.states.join() === "dark")).toBe(true);
        expect(withScene.at(-1)?.scene?.states).toEqual([]);

        // the intervals: the dark seconds are blind and not covered
        await waitFor(
          () => sub.messages.filter((m) => m.topic === "city/scene-1/counts").length >= 3,
          10_000,
          "the intervals",
        );
        const all = sub.messages
          .filter((m) => m.topic === "city/scene-1/counts")
          .map((m) => JSON.parse(m.payload) as CountsMessage);
        const sum = (f: (c: CountsMessage) => number) => all.reduce((s, c) => s + f(c), 0);
        const blind = sum((c) => c.quality.blindSec ?? 0);
        expect(Math.abs(blind - (clearedAt - raisedAt) / 1000)).toBeLessThan(0.3);
        expect(sum((c) => c.quality.scene?.darkSec ?? 0)).toBeCloseTo(blind, 2);
        expect(Math.abs(sum((c) => c.quality.coverageSec) + blind - 30)).toBeLessThan(0.5);
        const dark = all.find((c) => (c.quality.blindSec ?? 0) > 1);
        expect(dark?.quality.coverage).toBeLessThan(0.9);

        const raised = (
          await runtime.metrics.registry.getSingleMetric("counter_scene_state_changes_total")?.get()
        )?.values.find((v) => v.labels.state === "dark")?.value;
        expect(raised).toBe(1);
      } finally {
        await runtime.shutdown(1000);
        await sub.client.endAsync();
        await broker.close();
      }
    },
    180_000,
  );
});

describeWithAssets(
  "counter restarted on a view that was turned meanwhile",
  [PETS, modelPath("yolox_nano.onnx")],
  () => {
    const dir = mkdtempSync(join(tmpdir(), "scene-restart-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /** Runs the counter over `clip` with the device database `db`; returns its log lines. */
    async function countOver(clip: string, db: string): Promise<Record<string, unknown>[]> {
      const { config } = deviceConfig("scene-2", "mqtt://127.0.0.1:1", {
        camera: { source: clip, mode: "replay", fps: 10 },
        model: { id: "yolox-nano", dir: MODEL_DIR },
        storage: { path: db },
        mqtt: { enabled: false },
        api: { enabled: false },
      });
      const logs: Record<string, unknown>[] = [];
      const sink = new Writable({
        write(chunk, _encoding, done) {
          for (const line of String(chunk).split("\n")) if (line) logs.push(JSON.parse(line));
          done();
        },
      });
      const runtime = new CounterRuntime(config, { log: pino({ level: "info" }, sink), version: "test" });
      try {
        await runtime.start();
        await runtime.run();
      } finally {
        await runtime.shutdown(0);
      }
      return logs;
    }

    it("is judged against what the last run learnt: moved from the start, not learnt as the new normal", async () => {
      const healthy = join(dir, "healthy.mp4");
      const turned = join(dir, "turned.mp4");
      // the same crop of PETS, then one 15 % of the width further right (the camera turned)
      for (const [out, x] of [
        [healthy, "0"],
        [turned, "iw*0.15"],
      ] as const)
        await run("ffmpeg", [
          ...["-v", "error", "-y", "-t", "15", "-i", PETS],
          ...["-vf", `crop=w=iw*0.85:h=ih*0.85:x=${x}:y=0,scale=640:480`],
          ...["-c:v", "libx264", "-preset", "ultrafast", "-an", out],
        ]);
      const db = join(dir, "counts.db");
      const first = await countOver(healthy, db);
      expect(first.filter((l) => l.stage === "scene").map((l) => l.msg)).toEqual([]);
      const second = await countOver(turned, db);
      const scene = second.filter((l) => l.stage === "scene");
      expect(scene.map((l) => l.msg)).toEqual([
        "scene normal resumed from the last run",
        "scene moved: the counter cannot see",
      ]);
      // raised within 10 s of the first frame of the restarted run
      const startedAt = Number(scene[0]?.time);
      expect(Date.parse(String(scene[1]?.at)) - startedAt).toBeLessThan(10_000);
    }, 180_000);
  },
);
