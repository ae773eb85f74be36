import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath } from "./helpers/assets.ts";
import { counterProcess } from "./helpers/counter-process.ts";

describeWithAssets(
  "counter demo",
  [modelPath("yolox_nano.onnx"), dataPath("pets09-s2l1/pets09-s2l1.avi")],
  () => {
    it("counts the sample clip over MQTT and leaves no database behind", async () => {
      const tmp = mkdtempSync(join(tmpdir(), "demo-tmp-"));
      const p = counterProcess(["demo"], { TMPDIR: tmp, MODEL_DIR });
      expect(await p.exited).toBe(0);
      expect(p.stdout()).toMatch(/done: 795 frames, [\d.]+ fps, \d+ interval messages over MQTT/);
      expect(p.stdout()).toMatch(/path-centre\s+west > east\s+pedestrian\s+\d+/);
      // (tsx keeps its compile cache there too)
      expect(readdirSync(tmp).filter((f) => f.startsWith("edge-counter-demo"))).toEqual([]);
    });
  },
);
