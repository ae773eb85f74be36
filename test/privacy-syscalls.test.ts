import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dataPath, describeWithAssets, modelPath, REPO_ROOT } from "./helpers/assets.ts";
import { freePort, startAedes, subscriber, waitFor } from "./helpers/brokers.ts";
import { deviceConfig, writeConfig } from "./helpers/device-config.ts";

// What the counter process (and its ffmpeg) does at the system-call level, recorded with strace:
// every file it creates or opens for writing and every network address it connects to. The
// privacy promise is that nothing leaves but aggregate counts, so the only file written is the
// counts database and the only connections are to the MQTT broker.

const hasStrace = spawnSync("strace", ["-V"], { stdio: "ignore" }).error === undefined;
const clip = dataPath("intel-person-bicycle-car/person-bicycle-car-detection.mp4");
const model = modelPath("yolox_nano.onnx");

// ONNX Runtime stays quiet when it believes it runs in CI; the child must look like a device.
const CI_MARKERS = ["CI", "CONTINUOUS_INTEGRATION", "BUILD_NUMBER", "RUN_ID", "TF_BUILD", "GITHUB_ACTIONS"];

function deviceEnv(home: string, tmp: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, TMPDIR: tmp };
  for (const k of CI_MARKERS) delete env[k];
  delete env.ORT_DISABLE_TELEMETRY;
  delete env.ORT_TELEMETRY_DISABLED;
  return env;
}

interface Trace {
  readonly written: string[];
  readonly connected: string[];
  readonly raw: string;
}

const SYSCALLS =
  "openat,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,connect,sendto";

function parseTrace(raw: string): Trace {
  const written = new Set<string>();
  const connected = new Set<string>();
  for (const line of raw.split("\n")) {
    const open = /\b(?:openat|creat)\(.*?"([^"]+)", ([A-Z_|]+).*\)\s+= (\d+)/.exec(line);
    if (open && /O_WRONLY|O_RDWR|O_CREAT|creat\(/.test(open[2]! + line)) written.add(open[1]!);
    const made =
      /\b(?:mkdir|mkdirat|rename|renameat2?|link|linkat|symlink|symlinkat)\(.*"([^"]+)"[^"]*\)\s+= 0/.exec(
        line,
      );
    if (made) written.add(made[1]!);
    const inet =
      /\b(?:connect|sendto)\(.*sin6?_port=htons\((\d+)\).*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")/.exec(
        line,
      );
    if (inet) connected.add(`${inet[2] ?? inet[3]}:${inet[1]}`);
    const unix = /\bconnect\(.*sun_path="([^"]+)"/.exec(line);
    if (unix) connected.add(`unix:${unix[1]}`);
  }
  return { written: [...written].sort(), connected: [...connected].sort(), raw };
}

async function traced(
  args: string[],
  env: NodeJS.ProcessEnv,
  out: string,
  until?: () => boolean,
  what = "the traced process to publish",
): Promise<Trace> {
  const child = spawn("strace", ["-f", "-qq", "-e", `trace=${SYSCALLS}`, "-o", out, ...args], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", r));
  if (until) {
    await waitFor(until, 60_000, what);
    // stop the traced process itself (strace's child), as systemd would, for a clean shutdown
    const pid = spawnSync("pgrep", ["-P", String(child.pid)], { encoding: "utf8" })
      .stdout.trim()
      .split("\n")[0];
    if (pid) process.kill(Number(pid), "SIGTERM");
    else child.kill("SIGTERM");
  }
  const code = await exited;
  if (code !== 0) throw new Error(`traced process exited ${code}: ${stderr.slice(-2000)}`);
  return parseTrace(readFileSync(out, "utf8"));
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.runIf(hasStrace || process.env.CI === "true")("privacy at the system-call level", () => {
  describeWithAssets("counter run under strace", [clip, model], () => {
    it("ONNX Runtime on its own reaches out to Microsoft: the trace sees it (control)", async () => {
      const work = mkdtempSync(join(tmpdir(), "strace-control-"));
      mkdirSync(join(work, "home"));
      mkdirSync(join(work, "tmp"));
      // the session stays open until the trace shows the report (or the wait gives up), then stops
      const script = `process.on("SIGTERM", () => process.exit(0)); const ort = (await import("onnxruntime-node")).default; await ort.InferenceSession.create(${JSON.stringify(model)}); setInterval(() => {}, 1000);`;
      const traceFile = join(work, "trace.txt");
      const reported = (text: string) => text.includes("microsoft.com") || text.includes("/.cache/Microsoft");
      const t = await traced(
        [process.execPath, "--input-type=module", "-e", script],
        deviceEnv(join(work, "home"), join(work, "tmp")),
        traceFile,
        () => existsSync(traceFile) && reported(readFileSync(traceFile, "utf8")),
        "ONNX Runtime's usage report in the trace (if it never comes, review ort-privacy.ts)",
      );
      // If this fails, ONNX Runtime changed how (or whether) it reports usage: review ort-privacy.ts.
      const phoned =
        t.raw.includes("microsoft.com") || t.written.some((p) => p.includes("/.cache/Microsoft"));
      expect(phoned, "no telemetry seen from a bare onnxruntime-node").toBe(true);
    });

    it("writes only its database and connects only to its broker", async () => {
      const work = mkdtempSync(join(tmpdir(), "strace-run-"));
      const home = join(work, "home");
      const tmp = join(work, "tmp");
      mkdirSync(home);
      mkdirSync(tmp);
      const broker = await startAedes();
      cleanups.push(broker.close);
      const sub = await subscriber(broker.url, "city/#");
      cleanups.push(() => sub.client.endAsync());
      const apiPort = await freePort();
      const { raw, dir } = deviceConfig("strace-1", broker.url, {
        camera: { source: clip, mode: "live", fps: 10 },
        model: { id: "yolox-nano", dir: join(model, ".."), threads: 1 },
        aggregation: { periodSec: 1 },
        api: { host: "127.0.0.1", port: apiPort },
      });
      const storage = join(dir, "data");
      raw.storage = { path: join(storage, "counts.db") };
      const configFile = writeConfig(raw, dir);
      const t = await traced(
        [process.execPath, join(REPO_ROOT, "bin/counter.js"), "run", "--config", configFile],
        deviceEnv(home, tmp),
        join(work, "trace.txt"),
        () => sub.messages.filter((m) => m.topic === "city/strace-1/counts").length >= 3,
      );
      const brokerPort = new URL(broker.url).port;
      // the database, its journal files and its folder; tsx's compile cache (source code) in TMPDIR
      const allowedWrite = (p: string) =>
        p.startsWith(storage) || p.startsWith(join(tmp, "tsx-")) || p === "/dev/null";
      expect(t.written.filter((p) => !allowedWrite(p))).toEqual([]);
      expect(t.written.some((p) => p.startsWith(join(storage, "counts.db")))).toBe(true);
      // the broker, and tsx's IPC pipe to its parent in TMPDIR; no DNS, no other host
      const allowedPeer = (c: string) =>
        c === `127.0.0.1:${brokerPort}` || c.startsWith(`unix:${join(tmp, "tsx-")}`);
      expect(t.connected.filter((c) => !allowedPeer(c))).toEqual([]);
      expect(t.connected).toContain(`127.0.0.1:${brokerPort}`);
      expect(t.raw).not.toContain("microsoft.com");
    });
  });
});
