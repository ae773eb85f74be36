import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import type { CountsMessage, StatusMessage } from "../edge/publish/messages.ts";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath, REPO_ROOT } from "./helpers/assets.ts";
import { freePort, startAedes, subscriber, waitFor } from "./helpers/brokers.ts";
import { deviceConfig, writeConfig } from "./helpers/device-config.ts";

const clip = dataPath("intel-person-bicycle-car/person-bicycle-car-detection.mp4");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function counter(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [join(REPO_ROOT, "bin/counter.js"), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, exited, stderr: () => stderr };
}

describeWithAssets("the counter run process", [modelPath("yolox_nano.onnx"), clip], () => {
  it("SIGTERM: finishes, closes the partial interval, publishes it and the offline status, exits 0", async () => {
    const broker = await startAedes();
    cleanups.push(broker.close);
    const sub = await subscriber(broker.url, "city/#");
    cleanups.push(() => sub.client.endAsync());
    const { raw, dir } = deviceConfig("proc-1", broker.url, {
      camera: { source: clip, mode: "live", fps: 5 },
      model: { id: "yolox-nano", dir: MODEL_DIR, threads: 1 },
      aggregation: { periodSec: 2 },
      api: { enabled: false },
    });
    const p = counter(["run", "--config", writeConfig(raw, dir)]);
    cleanups.push(() => {
      p.child.kill("SIGKILL");
    });
    const countsOf = () =>
      sub.messages
        .filter((m) => m.topic === "city/proc-1/counts")
        .map((m) => JSON.parse(m.payload) as CountsMessage);
    await waitFor(() => countsOf().length >= 2, 60_000, "two intervals");
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    await waitFor(
      () =>
        sub.messages.some(
          (m) => m.topic === "city/proc-1/status" && !(JSON.parse(m.payload) as StatusMessage).online,
        ),
      5000,
      "offline status",
    );
    const statuses = sub.messages
      .filter((m) => m.topic === "city/proc-1/status")
      .map((m) => JSON.parse(m.payload) as StatusMessage);
    // frames / elapsed time: never more than the 5 fps the camera is read at
    const rates = statuses.filter((s) => s.online).map((s) => s.processedFps);
    expect(rates.some((r) => r > 0)).toBe(true);
    expect(Math.max(...rates)).toBeLessThanOrEqual(5.3);
    const offline = statuses.find((s) => !s.online)!;
    expect(offline.camera).toEqual({ state: "unknown", since: null, lastError: null });
    expect(offline.processedFps).toBe(0);
    expect(offline.ts).not.toBeNull();
    expect(offline.lastWill).toBeUndefined();
    const all = countsOf();
    expect(all.at(-1)!.partial).toBe(true);
    expect(all.map((c) => c.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.slice(1, -1).every((c) => c.quality.coverageSec > 1.5)).toBe(true);
    expect(p.stderr()).toContain('"stage":"detect"');
    expect(p.stderr()).toContain("model loaded");
  });

  it("SIGKILL: the broker's last will says offline, that it is a last will, and claims no time", async () => {
    const broker = await startAedes();
    cleanups.push(broker.close);
    const sub = await subscriber(broker.url, "city/#");
    cleanups.push(() => sub.client.endAsync());
    const { raw, dir } = deviceConfig("proc-will", broker.url, { api: { enabled: false } });
    const p = counter(["simulate", "--config", writeConfig(raw, dir)]);
    cleanups.push(() => {
      p.child.kill("SIGKILL");
    });
    const statuses = () =>
      sub.messages
        .filter((m) => m.topic === "city/proc-will/status")
        .map((m) => JSON.parse(m.payload) as StatusMessage);
    await waitFor(() => statuses().some((s) => s.online), 30_000, "online status");
    p.child.kill("SIGKILL");
    await waitFor(() => statuses().some((s) => !s.online), 30_000, "the last will");
    const will = statuses().find((s) => !s.online)!;
    expect(will.lastWill).toBe(true);
    expect(will.ts).toBeNull();
    expect(will.camera.state).toBe("unknown");
  });

  it.each([
    ["a missing model", { model: { id: "no-such-model" } }, /model not found: "no-such-model"/],
    [
      "a camera file that does not exist",
      { camera: { source: "/no/such/clip.mp4" } },
      /camera.source: file \/no\/such\/clip.mp4 does not exist/,
    ],
    ["an invalid configuration", { camera: { source: clip } }, /camera.fsp: unknown key/],
  ])("%s: exits non-zero with the reason, before anything starts", async (name, over, message) => {
    const { raw, dir } = deviceConfig("proc-2", "mqtt://127.0.0.1:1", {
      model: { id: "yolox-nano", dir: MODEL_DIR },
      api: { enabled: false },
      ...over,
    });
    if (name === "an invalid configuration") raw.camera = { source: clip, fsp: 3 }; // a typo of fps
    const p = counter(["run", "--config", writeConfig(raw, dir)]);
    expect(await p.exited).not.toBe(0);
    expect(p.stderr()).toMatch(message);
  });

  it("--fetch-model: an empty model folder gets the verified model from MODEL_MIRROR, then counts", async () => {
    // a local mirror serving the real model file: what a city network without GitHub access sets up
    const requests: string[] = [];
    const mirror = createServer((req, res) => {
      requests.push(req.url ?? "");
      const file = join(MODEL_DIR, decodeURIComponent((req.url ?? "").replace(/^\/models\//, "")));
      if (!req.url?.startsWith("/models/") || !existsSync(file)) return void res.writeHead(404).end();
      res.writeHead(200);
      createReadStream(file).pipe(res);
    });
    await new Promise<void>((r) => mirror.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => mirror.close(() => r())));
    const mirrorUrl = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}/models/`;
    const broker = await startAedes();
    cleanups.push(broker.close);
    const sub = await subscriber(broker.url, "city/#");
    cleanups.push(() => sub.client.endAsync());
    const { raw, dir } = deviceConfig("proc-3", broker.url, {
      camera: { source: clip, mode: "live", fps: 5 },
      aggregation: { periodSec: 1 },
      api: { enabled: false },
    });
    const modelDir = join(dir, "models");
    raw.model = { id: "yolox-nano", dir: modelDir, threads: 1 };
    const p = counter(["run", "--fetch-model", "--config", writeConfig(raw, dir)], {
      MODEL_MIRROR: mirrorUrl,
    });
    cleanups.push(() => {
      p.child.kill("SIGKILL");
    });
    await waitFor(() => sub.messages.some((m) => m.topic === "city/proc-3/counts"), 60_000, "counts");
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(requests).toEqual(["/models/yolox_nano.onnx"]);
    const sha = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");
    expect(sha(join(modelDir, "yolox_nano.onnx"))).toBe(sha(modelPath("yolox_nano.onnx")));
    expect(p.stderr()).toContain("model fetched");

    // a second start finds the verified copy and downloads nothing
    const again = counter(["run", "--fetch-model", "--config", writeConfig(raw, dir)], {
      MODEL_MIRROR: "http://127.0.0.1:1/",
    });
    cleanups.push(() => {
      again.child.kill("SIGKILL");
    });
    await waitFor(() => again.stderr().includes("model loaded"), 60_000, "model loaded");
    again.child.kill("SIGTERM");
    expect(await again.exited).toBe(0);
    expect(again.stderr()).toContain("model present");
  });

  it("--fetch-model with an unreachable mirror exits non-zero naming the URL", async () => {
    const { raw, dir } = deviceConfig("proc-4", "mqtt://127.0.0.1:1", {
      camera: { source: clip },
      api: { enabled: false },
    });
    raw.model = { id: "yolox-nano", dir: join(dir, "models") };
    const p = counter(["run", "--fetch-model", "--config", writeConfig(raw, dir)], {
      MODEL_MIRROR: "http://127.0.0.1:1/m",
    });
    expect(await p.exited).not.toBe(0);
    expect(p.stderr()).toMatch(
      /cannot download yolox-nano from http:\/\/127\.0\.0\.1:1\/m\/yolox_nano\.onnx/,
    );
    expect(existsSync(join(dir, "models", "yolox_nano.onnx"))).toBe(false);
  });

  it("set-up while counting: PUT /api/geometry saves the new line to the file and counts on it, no restart", async () => {
    const broker = await startAedes();
    cleanups.push(broker.close);
    const sub = await subscriber(broker.url, "city/#");
    cleanups.push(() => sub.client.endAsync());
    const port = await freePort();
    const { raw, dir } = deviceConfig("setup-1", broker.url, {
      camera: { source: clip, mode: "live", fps: 5 },
      model: { id: "yolox-nano", dir: MODEL_DIR, threads: 1 },
      aggregation: { periodSec: 2 },
      api: { host: "127.0.0.1", port },
    });
    const file = writeConfig(raw, dir);
    const p = counter(["run", "--config", file]);
    cleanups.push(() => {
      p.child.kill("SIGKILL");
    });
    const countsOf = () =>
      sub.messages
        .filter((m) => m.topic === "city/setup-1/counts")
        .map((m) => JSON.parse(m.payload) as CountsMessage);
    await waitFor(() => countsOf().length >= 1, 60_000, "a first interval");
    const moved = {
      name: "moved",
      points: [
        [0.5, 0],
        [0.5, 1],
      ],
      from: "east",
      to: "west",
    };
    const res = await fetch(`http://127.0.0.1:${port}/api/geometry`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ lines: [moved], zones: [] }),
    });
    expect(res.status).toBe(200);
    await waitFor(
      () => countsOf().some((c) => c.lines.some((l) => l.line === "moved") && !c.quality.geometryChanged),
      60_000,
      "an interval on the new line",
    );
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    const all = countsOf();
    // the interval in progress at the save ended with the line it began with (no interval shorter
    // than the period, no line counted for part of one); the next one, flagged, counts the new line
    const flagged = all.filter((c) => c.quality.geometryChanged);
    expect(flagged).toHaveLength(1);
    const at = all.indexOf(flagged[0] as (typeof all)[number]);
    expect(all.slice(0, at).every((c) => c.lines.every((l) => l.line === "gate"))).toBe(true);
    expect(all.slice(at).every((c) => c.lines.every((l) => l.line === "moved"))).toBe(true);
    expect(new Set(all.map((c) => c.intervalStart)).size).toBe(all.length);
    expect(all.map((c) => c.seq)).toEqual(all.map((_, i) => i + 1));
    expect(readFileSync(file, "utf8")).toContain("name: moved");
    expect(existsSync(`${file}.previous`)).toBe(true);
  });
});
