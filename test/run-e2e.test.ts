import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { beforeAll, expect, it } from "vitest";
import { parse } from "yaml";
import { DEMO_CONFIG } from "../edge/app/demo.ts";
import { startCounter } from "../edge/app/run.ts";
import { parseConfig } from "../edge/config/load.ts";
import { compareCounts, groundTruthCrossings } from "../edge/eval/count-eval.ts";
import type { CountsMessage } from "../edge/publish/messages.ts";
import { dataPath, describeWithAssets, MODEL_DIR, modelPath } from "./helpers/assets.ts";
import { type Received, startAedes, subscriber, waitFor } from "./helpers/brokers.ts";
import { deviceConfig } from "./helpers/device-config.ts";

const pets = dataPath("pets09-s2l1");

/** Everything the process let out, for the privacy scan. */
interface Exhaust {
  files: { path: string; bytes: Buffer }[];
  logs: string[];
  mqtt: Received[];
  http: { url: string; body: Buffer }[];
  frameBytes: number;
}

describeWithAssets(
  "counter run end to end on pets09-s2l1 (replay) against a real broker",
  [modelPath("yolox_nano.onnx"), join(pets, "pets09-s2l1.avi")],
  () => {
    const out: Exhaust = { files: [], logs: [], mqtt: [], http: [], frameBytes: 0 };
    let counts: CountsMessage[] = [];
    let rawConfig: Record<string, Record<string, unknown>>;
    let workDir = "";

    beforeAll(async () => {
      const broker = await startAedes();
      const sub = await subscriber(broker.url, "demo/#");
      rawConfig = parse(readFileSync(DEMO_CONFIG, "utf8"));
      const { dir } = deviceConfig("e2e", broker.url);
      workDir = dir;
      rawConfig.camera = { ...rawConfig.camera, source: join(pets, "pets09-s2l1.avi") };
      rawConfig.model = { ...rawConfig.model, dir: MODEL_DIR };
      rawConfig.storage = { path: join(dir, "counts.db") };
      rawConfig.mqtt = { ...rawConfig.mqtt, url: broker.url };
      rawConfig.api = { enabled: true, host: "127.0.0.1", port: 0 };
      const config = parseConfig(JSON.parse(JSON.stringify(rawConfig)), "e2e", {});
      const log = pino({ level: "debug" }, { write: (line: string) => out.logs.push(line) });
      const handle = await startCounter(config, {
        log,
        version: "test",
        onFrame: (f) => {
          out.frameBytes = f.pixels.data.length;
        },
      });
      const base = `http://127.0.0.1:${(handle.api!.server.address() as { port: number }).port}`;
      // query the API while running, then let the replay finish
      for (const path of [
        "/health",
        "/metrics",
        "/api/status",
        "/api/config",
        "/api/counts",
        "/api/counts?format=csv",
      ]) {
        const r = await fetch(base + path);
        out.http.push({ url: path, body: Buffer.from(await r.arrayBuffer()) });
      }
      await handle.done;
      // the clean stop's offline status is the last message the counter sends
      await waitFor(
        () => sub.messages.some((m) => m.topic.endsWith("/status") && JSON.parse(m.payload).online === false),
        10_000,
        "offline status",
      );
      out.mqtt.push(...sub.messages);
      counts = sub.messages
        .filter((m) => m.topic.endsWith("/counts"))
        .map((m) => JSON.parse(m.payload) as CountsMessage);
      await sub.client.endAsync();
      await broker.close();
      const walk = (d: string) => {
        for (const f of readdirSync(d)) {
          const p = join(d, f);
          if (statSync(p).isDirectory()) walk(p);
          else out.files.push({ path: p, bytes: readFileSync(p) });
        }
      };
      walk(dir);
    }, 240_000);

    it("publishes the intervals of the whole clip, in order, covering its length", () => {
      expect(counts.length).toBeGreaterThanOrEqual(11);
      expect(counts.map((c) => c.seq)).toEqual(counts.map((_, i) => i + 1));
      const coverage = counts.reduce((s, c) => s + c.quality.coverageSec, 0);
      // 795 frames at 7 fps = 113.6 s
      expect(coverage).toBeGreaterThan(110);
      expect(coverage).toBeLessThan(115);
      expect(counts.at(-1)!.partial).toBe(true);
    });

    it("its line counts match the ground-truth crossings within the tolerance of docs/accuracy.md", () => {
      const lines = (
        rawConfig.lines as unknown as { name: string; points: [number, number][]; from: string; to: string }[]
      ).map((l) => ({ ...l }));
      const truth = groundTruthCrossings(pets, lines);
      const counted = new Map<string, number>();
      for (const c of counts)
        for (const l of c.lines)
          counted.set(
            `${l.line}:${l.from}>${l.to}`,
            (counted.get(`${l.line}:${l.from}>${l.to}`) ?? 0) + l.count,
          );
      const cmp = compareCounts(counted, truth);
      expect(cmp.totalTruth).toBeGreaterThan(40);
      expect(cmp.overallAccuracy).toBeGreaterThanOrEqual(0.9);
    });

    it("the local API served health, metrics, counts (JSON and CSV), status and a redacted config", () => {
      const get = (u: string) => out.http.find((h) => h.url === u)!.body.toString();
      expect(JSON.parse(get("/health"))).toMatchObject({ model: "yolox-nano", live: true });
      expect(get("/metrics")).toContain("counter_frames_processed_total");
      expect(get("/metrics")).toContain("counter_inference_seconds_bucket");
      expect(get("/api/counts?format=csv").split("\n")[0]).toMatch(
        /^interval_start,interval_end,partial,coverage_sec,kind/,
      );
      expect(JSON.parse(get("/api/status"))).toMatchObject({ type: "status", online: true });
      expect(JSON.parse(get("/api/config")).device.id).toBe("demo-plaza");
    });

    it("privacy: no image bytes and no per-person data in any file, log line, MQTT payload or HTTP response", () => {
      expect(out.frameBytes).toBeGreaterThan(100_000);
      expect(out.files.length).toBeGreaterThan(0);
      expect(out.logs.length).toBeGreaterThan(0);
      expect(out.mqtt.length).toBeGreaterThan(0);
      const blobs: [string, Buffer][] = [
        ...out.files.map((f) => [`file ${f.path}`, f.bytes] as [string, Buffer]),
        ...out.logs.map((l, i) => [`log line ${i}`, Buffer.from(l)] as [string, Buffer]),
        ...out.mqtt.map((m) => [`mqtt ${m.topic}`, Buffer.from(m.payload)] as [string, Buffer]),
        ...out.http.map((h) => [`http ${h.url}`, h.body] as [string, Buffer]),
      ];
      const JPEG = Buffer.from([0xff, 0xd8, 0xff]);
      const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
      const trackFields = /"(trackId|track_id|box|bbox|x1|y1|velocity|trajectory|detections?)"\s*:/;
      for (const [where, b] of blobs) {
        expect(b.includes(JPEG), `${where} holds a JPEG signature`).toBe(false);
        expect(b.includes(PNG), `${where} holds a PNG signature`).toBe(false);
        expect(b.length, `${where} is as large as a raw frame`).toBeLessThan(out.frameBytes);
        if (!where.startsWith("file"))
          expect(trackFields.test(b.toString()), `${where} has a track-level field`).toBe(false);
      }
      // the database holds aggregate rows only
      const db = out.files.find((f) => f.path.endsWith("counts.db"))!.bytes.toString("latin1");
      expect(trackFields.test(db)).toBe(false);
      expect(workDir).not.toBe("");
    });
  },
);
