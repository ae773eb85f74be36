import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import type { CountsMessage, StatusMessage } from "../edge/publish/messages.ts";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath } from "./helpers/assets.ts";
import { startAedes, subscriber, waitFor } from "./helpers/brokers.ts";
import { counterProcess } from "./helpers/counter-process.ts";
import { deviceConfig, writeConfig } from "./helpers/device-config.ts";

const clip = dataPath("intel-person-bicycle-car/person-bicycle-car-detection.mp4");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The exit code, or "still running" if the process has not ended within `ms`. */
async function exitWithin(exited: Promise<number | null>, ms: number): Promise<number | null | string> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    exited,
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve("still running"), ms);
    }),
  ]);
  clearTimeout(timer);
  return r;
}

/** A 4-s H.264 mp4 cut from the shared clip: `faststart` puts the index (moov) first. */
function makeClip(dir: string, name: string, faststart: boolean): string {
  const out = join(dir, name);
  const r = spawnSync("ffmpeg", [
    ...["-v", "error", "-y", "-i", clip, "-t", "4", "-an", "-c:v", "libx264", "-preset", "ultrafast"],
    ...(faststart ? ["-movflags", "+faststart"] : []),
    out,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  return out;
}

const truncate = (file: string, to: string, fraction: number) => {
  const b = readFileSync(file);
  writeFileSync(to, b.subarray(0, Math.floor(b.length * fraction)));
  return to;
};

describeWithAssets(
  "counter run refuses to look healthy when it is not",
  [modelPath("yolox_nano.onnx"), clip],
  () => {
    it("API port already in use: exits non-zero at start naming the port, never online", async () => {
      const busy = createServer();
      await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
      cleanups.push(() => new Promise<void>((r) => busy.close(() => r())));
      const port = (busy.address() as { port: number }).port;
      const broker = await startAedes();
      cleanups.push(broker.close);
      const sub = await subscriber(broker.url, "city/#");
      cleanups.push(() => sub.client.endAsync());
      const { raw, dir } = deviceConfig("busy-1", broker.url, {
        camera: { source: clip, mode: "live", fps: 5 },
        model: { id: "yolox-nano", dir: MODEL_DIR, threads: 1 },
        api: { port },
      });
      const p = counterProcess(["run", "--config", writeConfig(raw, dir)]);
      cleanups.push(() => {
        p.child.kill("SIGKILL");
      });
      const code = await exitWithin(p.exited, 60_000);
      expect(code).not.toBe("still running");
      expect(code).not.toBe(0);
      expect(p.stderr()).toContain(`api.port: 127.0.0.1:${port} is already in use`);
      const online = sub.messages.filter(
        (m) => m.topic.endsWith("/status") && (JSON.parse(m.payload) as StatusMessage).online,
      );
      expect(online).toEqual([]);
    });

    it.each([
      ["an mp4 truncated before its index", "moov atom not found"],
      ["random bytes named .mp4", "moov atom not found|Invalid data"],
    ])("replay of %s: exits non-zero with ffmpeg's reason, no retries", async (what, reason) => {
      const { raw, dir } = deviceConfig("bad-file", "mqtt://127.0.0.1:1", {
        model: { id: "yolox-nano", dir: MODEL_DIR, threads: 1 },
        api: { enabled: false },
        mqtt: { enabled: false },
      });
      const file =
        what === "random bytes named .mp4"
          ? (() => {
              const f = join(dir, "random.mp4");
              // the same bytes every run: about one random file in 1,500 passes for an H.263 stream
              // (ffmpeg detects it "with low score", decodes a garbage frame and exits 0)
              writeFileSync(f, noiseBytes(100_000));
              return f;
            })()
          : truncate(makeClip(dir, "whole.mp4", false), join(dir, "cut.mp4"), 0.5);
      raw.camera = { source: file, mode: "replay" };
      const p = counterProcess(["run", "--config", writeConfig(raw, dir)]);
      cleanups.push(() => {
        p.child.kill("SIGKILL");
      });
      const code = await exitWithin(p.exited, 60_000);
      expect(code).not.toBe("still running");
      expect(code).not.toBe(0);
      expect(p.stderr()).toMatch(
        new RegExp(`the recording could not be read: ffmpeg exited with 1 .*(${reason})`),
      );
      expect(p.stderr().match(/"restarts":[1-9]/)).toBeNull();
    });

    it("replay of a file that breaks off mid-stream: counted up to the break, says how far, exits non-zero", async () => {
      const broker = await startAedes();
      cleanups.push(broker.close);
      const sub = await subscriber(broker.url, "city/#");
      cleanups.push(() => sub.client.endAsync());
      const { raw, dir } = deviceConfig("cut-1", broker.url, {
        model: { id: "yolox-nano", dir: MODEL_DIR, threads: 1 },
        api: { enabled: false },
      });
      const whole = makeClip(dir, "whole.mp4", true);
      raw.camera = { source: truncate(whole, join(dir, "cut.mp4"), 0.5), mode: "replay" };
      const p = counterProcess(["run", "--config", writeConfig(raw, dir)]);
      cleanups.push(() => {
        p.child.kill("SIGKILL");
      });
      const code = await exitWithin(p.exited, 60_000);
      expect(code).not.toBe("still running");
      expect(code).not.toBe(0);
      const m = p
        .stderr()
        .match(/the stream ended with an error after (\d+) frames \(the file announces about (\d+)\)/);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThan(0);
      expect(Number(m![1])).toBeLessThan(Number(m![2]));
      // what was read before the break is counted and delivered
      await waitFor(() => sub.messages.some((x) => x.topic === "city/cut-1/counts"), 10_000, "counts");
      const counts = sub.messages
        .filter((x) => x.topic === "city/cut-1/counts")
        .map((x) => JSON.parse(x.payload) as CountsMessage);
      expect(counts.reduce((s, c) => s + c.quality.framesProcessed, 0)).toBe(Number(m![1]));

      // the whole file, by contrast, ends cleanly
      raw.camera = { source: whole, mode: "replay" };
      const ok = counterProcess(["run", "--config", writeConfig(raw, dir)]);
      cleanups.push(() => {
        ok.child.kill("SIGKILL");
      });
      expect(await exitWithin(ok.exited, 60_000)).toBe(0);
    });
  },
);

/** Bytes that look random but are the same every run (xorshift32 from a fixed seed). */
function noiseBytes(length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
