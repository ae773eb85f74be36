import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import type { StatusMessage } from "../edge/publish/messages.ts";
import { describeWithAssets, MODEL_DIR, modelPath } from "./helpers/assets.ts";
import { freePort, hasMosquitto, Mosquitto, subscriber, waitFor } from "./helpers/brokers.ts";
import { counterProcess } from "./helpers/counter-process.ts";
import { deviceConfig, writeConfig } from "./helpers/device-config.ts";

const SECRETS = ["S3cretCamPass", "T0kenValue99", "MqttSecret-777", "ApiT0kenSecret-0123"];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const leaks = (text: string) => SECRETS.filter((s) => text.includes(s));

describeWithAssets("credentials never leave the process", [modelPath("yolox_nano.onnx")], () => {
  it.skipIf(!hasMosquitto)(
    "a failing camera with a password in its URL, a broker URL with userinfo: no secret in logs, API or MQTT",
    async () => {
      const broker = new Mosquitto(await freePort());
      const pwfile = join(broker.dir, "passwd");
      spawnSync("mosquitto_passwd", ["-c", "-b", pwfile, "counter", "MqttSecret-777"]);
      spawnSync("mosquitto_passwd", ["-b", pwfile, "watcher", "watcher-pw"]);
      broker.extraConfig = `allow_anonymous false\npassword_file ${pwfile}\n`;
      await broker.start();
      cleanups.push(() => broker.stop());
      const sub = await subscriber(broker.url, "#", { username: "watcher", password: "watcher-pw" });
      cleanups.push(() => sub.client.endAsync());

      const cameraPort = await freePort(); // nothing listens: the camera fails, ffmpeg says why
      const apiPort = await freePort();
      const { raw, dir } = deviceConfig("sec-1", broker.url, {
        camera: {
          source: `rtsp://admin:S3cretCamPass@127.0.0.1:${cameraPort}/stream1?token=T0kenValue99`,
          reconnectMinSec: 0.2,
          reconnectMaxSec: 0.5,
        },
        model: { id: "yolox-nano", dir: MODEL_DIR, threads: 1 },
        mqtt: { url: `mqtt://counter:MqttSecret-777@127.0.0.1:${broker.port}`, baseTopic: "city" },
        api: { port: apiPort, token: "ApiT0kenSecret-0123" },
      });
      const configPath = writeConfig(raw, dir);
      const p = counterProcess(["run", "--config", configPath], { LOG_LEVEL: "debug" });
      cleanups.push(() => {
        p.child.kill("SIGKILL");
      });
      const statuses = () =>
        sub.messages
          .filter((m) => m.topic === "city/sec-1/status")
          .map((m) => JSON.parse(m.payload) as StatusMessage);
      // the status message carries the camera's error once the camera has failed
      await waitFor(
        () => statuses().some((s) => s.online && s.camera.lastError !== null),
        60_000,
        "a status message with the camera error",
      );
      const base = `http://127.0.0.1:${apiPort}`;
      const auth = { authorization: "Bearer ApiT0kenSecret-0123" };
      const bodies: string[] = [];
      for (const path of ["/health", "/api/status", "/api/config", "/metrics", "/api/counts"]) {
        const res = await fetch(base + path, { headers: auth });
        bodies.push(await res.text());
      }
      const health = JSON.parse(bodies[0]!) as { camera: { lastError: string | null } };
      expect(health.camera.lastError).toMatch(/ffmpeg exited/); // the error is there, redacted
      expect(health.camera.lastError).toContain("rtsp://***@127.0.0.1");
      const shown = JSON.parse(bodies[2]!) as { camera: { source: string }; mqtt: { url: string } };
      expect(shown.camera.source).toBe(`rtsp://***@127.0.0.1:${cameraPort}/stream1?token=***`);
      expect(shown.mqtt.url).toBe(`mqtt://***@127.0.0.1:${broker.port}`);

      p.child.kill("SIGTERM");
      expect(await p.exited).toBe(0);
      await waitFor(() => statuses().some((s) => !s.online), 10_000, "offline status");
      const check = spawnSync(process.execPath, ["bin/counter.js", "config", "check", configPath], {
        encoding: "utf8",
      });

      // the logs did see the camera errors, as warnings
      expect(p.stderr()).toMatch(/"level":40,[^\n]*"state":"down"[^\n]*"msg":"camera state"/);
      expect(leaks(p.stderr())).toEqual([]);
      expect(leaks(p.stdout())).toEqual([]);
      expect(leaks(bodies.join("\n"))).toEqual([]);
      expect(sub.messages.length).toBeGreaterThan(1);
      expect(leaks(sub.messages.map((m) => m.payload).join("\n"))).toEqual([]);
      expect(leaks(check.stdout + check.stderr)).toEqual([]);
    },
  );
});
